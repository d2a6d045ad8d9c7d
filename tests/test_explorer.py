"Headless tests of the ablation explorer: build the widgets, set values, check what is shown."
import json, math
import numpy as np
import pandas as pd
import pytest
import torch
import ipywidgets as W
from saat_nb.core import get_preset
from saat_nb.metrics import results_from_points, save_results
from saat_nb.explorer import (Explorer, explorer, load_players, find_runs, find_checkpoints, runs_table, plot_runs,
                              PANELS, attack)

torch.set_num_threads(1)


def fake_run(d, seed=0, saat=True, n=30):
    "A fake-but-well-formed run folder (no checkpoint)."
    rng = np.random.default_rng(seed); d.mkdir(parents=True)
    (d / 'run.json').write_text(json.dumps({'config': {'saat': saat, 'ablation': {'beta': 0.5, 'lam': 1.0, 'use_s': False}}}))
    pd.DataFrame({'step': np.arange(1, n + 1), 'L': rng.random(n), 'beta': rng.random(n) if saat else np.nan,
                  'ssim': rng.random(n) if saat else np.nan}).to_csv(d / 'log.csv', index=False)
    pd.DataFrame({'step': [10, 20], 'split': 'valid', 'nme': [30., 20.]}).to_csv(d / 'eval.csv', index=False)
    gt = rng.uniform(10, 50, (5, 68, 2))
    for split in ('valid', 'test'): save_results(d, results_from_points(gt + rng.normal(0, 1, gt.shape), gt, split=split))
    return d


@pytest.fixture(scope='module')
def outputs(tmp_path_factory, data_dir):
    "An outputs folder with one real smoke SAAT run (train_run) and one fake baseline run."
    from saat_nb.train import train_run
    root = tmp_path_factory.mktemp('outputs')
    train_run('smoke', data_dir, root / 'smoke' / 'saat', saat=True, seed=0, progress=False)
    fake_run(root / 'smoke' / 'fake_baseline', seed=1, saat=False)
    return root


@pytest.fixture(scope='module')
def ex(outputs, data_dir):
    return Explorer(outputs, data_dir, preset='smoke')


def test_lists_runs_and_checkpoints(outputs, ex, data_dir):
    assert [p.name for p in find_runs(outputs)] == ['fake_baseline', 'saat']
    assert {p.name for p in find_checkpoints(outputs)} == {'final.pth', 'checkpoint.pth'}
    assert [l for l, _ in ex.run_select.options] == ['smoke/fake_baseline', 'smoke/saat']
    assert [l for l, _ in ex.controls['ckpt'].options] == ['untrained (random init, seeded)', 'smoke/saat/checkpoint.pth',
                                                           'smoke/saat/final.pth']
    assert isinstance(ex.widget, W.Tab) and [ex.widget.get_title(i) for i in range(2)] == ['Attack', 'Runs']
    assert isinstance(explorer(outputs, data_dir, preset='smoke'), W.Tab)


def test_scale_changes_numbers(ex):
    ex.controls['ckpt'].value = None
    ex.controls['scale'].value = 1.0
    s1, label1 = dict(ex.attack_state), ex.numbers.value
    ex.controls['scale'].value = 0.0
    s0, label0 = dict(ex.attack_state), ex.numbers.value
    assert s0['scale'] == 0 and s0['ssim'] > 0.999 and abs(s0['beta'] - math.log(1.5)) < 1e-3
    assert s1['ssim'] < s0['ssim'] and s1['beta'] < s0['beta'] and label0 != label1
    assert s0['nme'] == s1['nme']                       # the clean image does not change with the attack
    assert abs(s0['nme_adv'] - s0['nme']) < 1e-6        # no perturbation: I_adv = I
    ex.controls['scale'].value = 1.0
    assert ex.attack_state['ssim'] == s1['ssim']        # deterministic for a fixed seed


def test_fixed_beta_shown(ex):
    ex.controls['beta'].value = 0.25
    ex.controls['beta_mode'].value = 'fixed'
    assert abs(ex.attack_state['beta'] - 0.25) < 1e-6 and ex.attack_state['beta_fixed'] == 0.25
    assert 'β (fixed)' in ex.numbers.value and '0.250' in ex.numbers.value
    ex.controls['beta_mode'].value = 'adaptive'
    assert ex.attack_state['beta_fixed'] is None and '(adaptive)' in ex.numbers.value and ex.controls['beta'].disabled


def test_knobs_reach_the_losses(ex):
    base = dict(ex.attack_state)
    ex.controls['lam'].value = 1.0
    assert ex.attack_state['L_F'] < base['L_F']         # L_F = 1 / (MSE + λ)
    ex.controls['lam'].value = base['lam']
    ex.controls['bg'].value = 1.0
    assert ex.attack_state['ssim'] != base['ssim'] and ex.attack_state['L_R'] > base['L_R']
    ex.controls['bg'].value = 0.1
    ex.controls['seed'].value = 7
    assert ex.attack_state['ssim'] != base['ssim']
    ex.controls['seed'].value = 0
    ex.controls['use_s'].value = False
    assert ex.attack_state['ssim'] != base['ssim']
    ex.controls['use_s'].value = True
    assert ex.attack_state['ssim'] == base['ssim']


def test_figure_and_faces(ex):
    assert [ax.get_title() for ax in ex.fig.axes] == list(PANELS)
    assert all(len(ax.images) == 1 and ax.images[0].get_array().shape[:2] == (64, 64) for ax in ex.fig.axes)
    assert len(ex.fig.axes[0].lines) == 2 and len(ex.fig.axes[4].lines) == 1     # gt + pred on I, pred on I_adv
    assert ex.fig_out.outputs and 'image/png' in ex.fig_out.outputs[0]['data']
    first = ex.attack_state['face']
    ex.controls['face'].value = 3
    assert ex.attack_state['face'] != first and ex.attack_state['face'] == ex.dataset.names[3]
    ex.controls['subset'].value = 'helen/testset'
    assert ex.attack_state['face'].startswith('helen') and len(ex.controls['face'].options) == 330
    ex.controls['subset'].value = 'afw'
    assert len(ex.controls['face'].options) == 337


def test_checkpoint_players(ex, outputs):
    f = str(outputs / 'smoke' / 'saat' / 'final.pth')
    ex.controls['ckpt'].value = f
    pl = ex.players
    ck = torch.load(f, weights_only=True)
    assert pl.trained_attacker and pl.source == f and pl.preset == get_preset('smoke')
    assert all(torch.equal(v, ck['detector'][k]) for k, v in pl.detector.state_dict().items())
    assert all(torch.equal(v, ck['attacker'][k]) for k, v in pl.attacker.state_dict().items())
    assert ex.attack_state['source'] == f and 'smoke/saat/final.pth' in ex.info.value
    ex.controls['ckpt'].value = None
    assert ex.players.source == 'untrained'


def test_checkpoint_ablation_sets_knobs(tmp_path, outputs, data_dir):
    "A checkpoint whose run used fixed β, λ = 1 and no S: the knobs follow, and the S switch is disabled."
    from saat_nb.attacker import Attacker
    ck = torch.load(outputs / 'smoke' / 'saat' / 'final.pth', weights_only=True)
    ck['attacker'] = Attacker(64, 16, 4, use_s=False).state_dict()
    ck['meta']['ablation'] = {'beta': 0.5, 'lam': 1.0, 'use_s': False}
    d = tmp_path / 'smoke' / 'nos'; d.mkdir(parents=True)
    torch.save(ck, d / 'final.pth')
    e = Explorer(tmp_path, data_dir, preset='smoke')
    e.controls['ckpt'].value = str(d / 'final.pth')
    assert not e.players.attacker.use_s and e.controls['use_s'].disabled
    assert e.controls['lam'].value == 1.0 and e.controls['beta_mode'].value == 'fixed'
    assert abs(e.attack_state['beta'] - 0.5) < 1e-6 and e.attack_state['lam'] == 1.0
    del ck['meta']['ablation']                      # not stored: use_s read off the attacker's first conv
    torch.save(ck, d / 'final.pth')
    assert not load_players(d / 'final.pth').attacker.use_s


def test_bad_checkpoint_names_file(tmp_path):
    bad = tmp_path / 'final.pth'; bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='final.pth'): load_players(bad)
    torch.save({'format': 'saat_nb/1'}, bad)
    with pytest.raises(ValueError, match=r"lacks.*arch"): load_players(bad)
    with pytest.raises(FileNotFoundError, match='nope.pth'): load_players(tmp_path / 'nope.pth')


def test_runs_tab(ex, outputs):
    ex.run_select.value = tuple(v for _, v in ex.run_select.options)
    st = ex.runs_state
    assert st['runs'] == ['smoke/fake_baseline', 'smoke/saat'] and st['splits'] == ['test', 'valid']
    assert ex.split.value == 'test'
    assert sorted(st['table'].index) == [('smoke/fake_baseline', 'test'), ('smoke/fake_baseline', 'valid'),
                                         ('smoke/saat', 'test'), ('smoke/saat', 'valid')]
    real = json.loads((outputs / 'smoke' / 'saat' / 'metrics.json').read_text())
    assert st['table'].loc[('smoke/saat', 'test'), 'nme'] == pytest.approx(real['test']['nme'])
    ced, loss, nme_ax, beta_ax = ex.runs_fig.axes
    assert ced.get_title() == 'CED, test' and len(ced.lines) == 2
    assert len(loss.lines) == 4 and len(nme_ax.lines) == 2
    assert len(beta_ax.lines) == 4        # β and SSIM (raw + mean) of the SAAT run only; the baseline has none
    assert 'smoke/saat' in ex.table_out.outputs[0]['data']['text/html']
    ex.split.value = 'valid'
    assert ex.runs_fig.axes[0].get_title() == 'CED, valid'
    ex.run_select.value = ()
    assert ex.runs_fig is None and len(ex.runs_state['table']) == 0


def test_rescan_finds_new_run(ex, outputs):
    fake_run(outputs / 'smoke' / 'late', seed=2)
    ex.rescan()
    assert 'smoke/late' in [l for l, _ in ex.run_select.options]


def test_runs_table_bad_json(tmp_path):
    (tmp_path / 'metrics.json').write_text('{oops')
    with pytest.raises(ValueError, match='metrics.json'): runs_table({'r': tmp_path})
