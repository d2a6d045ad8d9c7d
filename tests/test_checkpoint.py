"The checkpoint format lives a floor below its users; no private name crosses a module boundary."
import ast
from pathlib import Path
import pytest
import torch
import saat_nb
from saat_nb import checkpoint, predict
from saat_nb.checkpoint import CKPT_FORMAT, read_checkpoint, load_detector, export_detector, DETECTOR_KEYS
from saat_nb.hourglass import HourglassNet

PKG = Path(saat_nb.__file__).parent
ROOT = PKG.parent


def saat_imports(f: Path):
    "(module imported from, names) for every `from saat_nb.x import ...` / `from .x import ...` in `f`, at any depth."
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and (node.level or node.module.startswith('saat_nb')):
            yield node.module.removeprefix('saat_nb.'), [a.name for a in node.names]


def test_format_string_unchanged():
    assert CKPT_FORMAT == 'saat_nb/1'      # committed checkpoints carry it


def test_predict_reexports_the_format():
    for name in ('CKPT_FORMAT', 'read_checkpoint', 'load_detector', 'export_detector', 'DETECTOR_KEYS'):
        assert getattr(predict, name) is getattr(checkpoint, name) and name in predict.__all__


def test_no_module_imports_from_a_floor_above():
    "train/evaluate/explorer/reproduce read checkpoints from saat_nb.checkpoint, not from the user-facing predict."
    for mod in ('checkpoint', 'core', 'data', 'hourglass', 'attacker', 'losses', 'beta', 'train', 'evaluate', 'explorer'):
        froms = {m for m, _ in saat_imports(PKG / f'{mod}.py')}
        assert 'predict' not in froms, mod
    assert {m for m, _ in saat_imports(PKG / 'checkpoint.py')} <= {'core', 'hourglass', 'mdm'}   # the two detector networks


@pytest.mark.parametrize('f', sorted(PKG.glob('*.py')) + sorted((ROOT / 'tools').glob('*.py')), ids=lambda f: f.name)
def test_no_private_names_across_modules(f):
    bad = [(m, n) for m, names in saat_imports(f) for n in names if n.startswith('_') and n != '__version__']
    assert not bad, f"{f.name} imports private names {bad}: give them a public name in their module"


def test_round_trip_and_errors(tmp_path):
    net = HourglassNet(1, 16, 64)
    arch = {'stacks': 1, 'width': 16, 'size': 64, 'n_points': 68}
    torch.save({'format': CKPT_FORMAT, 'arch': arch, 'step': 2, 'detector': net.state_dict(), 'attacker': None, 'meta': {}},
               tmp_path / 'c.pth')
    model, ck = load_detector(tmp_path / 'c.pth')
    assert ck['step'] == 2 and not model.training
    d = export_detector(tmp_path / 'c.pth')
    assert d.name == 'detector.pth' and set(read_checkpoint(d)) <= set(DETECTOR_KEYS) | {'source'}
    torch.save({'format': CKPT_FORMAT, 'arch': {**arch, 'width': 32}, 'detector': net.state_dict()}, tmp_path / 'w.pth')
    with pytest.raises(ValueError, match='mis-shaped'): load_detector(tmp_path / 'w.pth')
    with pytest.raises(FileNotFoundError, match='nope'): read_checkpoint(tmp_path / 'nope.pth')


def test_committed_detectors_still_load():
    dets = sorted((ROOT / 'outputs' / 'cpu').glob('*/detector.pth'))
    if not dets: pytest.skip('no committed detectors here')
    for d in dets:
        model, ck = load_detector(d)
        assert ck['format'] == CKPT_FORMAT and isinstance(model, HourglassNet)
