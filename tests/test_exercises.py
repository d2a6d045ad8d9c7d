"The course's exercises (04, 05, 07) can be solved: a student's correct answer passes its check cell, a near miss fails."
import json
from pathlib import Path
import numpy as np, pytest, torch
from saat_nb.core import check_exercise
from saat_nb.losses import reconstruction_loss
from saat_nb.beta import beta_weight
from saat_nb.metrics import auc

NBS = Path(__file__).parents[1] / 'nbs'

def _check_cell(nb: str, fn: str) -> str:
    "The source of the cell in `nb` that checks the student's `fn`."
    cells = json.loads((NBS / f'{nb}.ipynb').read_text())['cells']
    return next(''.join(c['source']) for c in cells if c['cell_type'] == 'code' and f'check_exercise({fn}' in ''.join(c['source']))

def _run(nb, fn, answer, **ns):
    "Run the notebook's own check cell with `answer` as the student's `fn` -> what check_exercise returned."
    g = dict(torch=torch, np=np, reconstruction_loss=reconstruction_loss, beta_weight=beta_weight, **ns)
    g[fn] = answer
    src = _check_cell(nb, fn).rstrip().rstrip(';')
    *head, last = src.split('\ncheck_exercise(')
    exec('\n'.join(head), g)
    return eval('check_exercise(' + last, g)

def test_reconstruction_loss_exercise():
    right = lambda i, a, m: (m * (i - a)).abs().mean()
    assert _run('04_losses', 'my_reconstruction_loss', right) is True
    with pytest.raises(AssertionError, match='differs'):
        _run('04_losses', 'my_reconstruction_loss', lambda i, a, m: (i - a).abs().mean())   # forgot M

def test_beta_exercise():
    assert _run('05_beta', 'my_beta', lambda s: torch.log((s + 0.5).clamp_min(1))) is True
    with pytest.raises(AssertionError, match='differs'):
        _run('05_beta', 'my_beta', lambda s: torch.log(s + 0.5).clamp_min(0))               # clamps after the log: nan below SSIM -0.5

def test_auc_exercise():
    def right(e, t=0.10):
        x = np.linspace(0, t, 1001)
        return np.trapezoid(np.searchsorted(np.sort(e), x, side='right') / len(e), x) / t
    assert _run('07_evaluate', 'my_auc', right) is True
    with pytest.raises(AssertionError, match='differs'):
        _run('07_evaluate', 'my_auc', lambda e, t=0.10: right(e, 0.10))                      # ignores the threshold

def test_not_attempted_passes_quietly(capsys):
    def todo(*a): raise NotImplementedError
    assert _run('05_beta', 'my_beta', todo) is None and 'not attempted' in capsys.readouterr().out
