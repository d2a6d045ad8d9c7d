"Metrics and results files (saat_nb.metrics), corruptions (saat_nb.robustness), figures and tables (saat_nb.evaluate)."
import json
import numpy as np
import pytest
import torch
from saat_nb.metrics import (nme, failure_rate, ced, auc, summarize, Results, results_from_points,
                             concat_results, save_results, load_results, metrics_table)

def face(io=50., seed=0):
    g = np.random.default_rng(seed).uniform(0, 100, (68, 2))
    g[36], g[45] = (20, 30), (20 + io, 30)
    return g

def test_nme_perfect_is_zero():
    g = face()
    assert nme(g, g) == 0
    assert (nme(np.stack([g, g]), np.stack([g, g])) == 0).all()

def test_nme_hand_computed_shift():
    g = face(io=50.)
    assert nme(g + [3, 4], g) == pytest.approx(0.1)
    assert nme(g + [-3, 4], g) == pytest.approx(0.1)
    assert nme(g + [6, 8], g) == pytest.approx(0.2)

def test_nme_scale_invariant():
    rng = np.random.default_rng(1)
    g = np.stack([face(seed=s) for s in range(4)]); p = g + rng.normal(0, 2, g.shape)
    assert np.allclose(nme(3.7 * p, 3.7 * g), nme(p, g))

def test_nme_one_bad_point():
    g = face(io=50.); p = g.copy(); p[10] += [0, 68 * 5]   # one point 340 px off -> mean 5 px -> 0.1
    assert nme(p, g) == pytest.approx(0.1)

def test_nme_torch_in_torch_out_and_batch_shape():
    g = torch.tensor(np.stack([face(seed=s) for s in range(3)]), dtype=torch.float32)
    out = nme(g + torch.tensor([3., 4.]), g)
    assert isinstance(out, torch.Tensor) and out.shape == (3,)
    assert torch.allclose(out, torch.full((3,), 0.1), atol=1e-5)

def test_nme_inter_pupil_differs():
    g = face(); p = g + [3, 4]
    assert nme(p, g, 'inter-pupil') != pytest.approx(nme(p, g))

def test_nme_bad_input():
    g = face()
    with pytest.raises(ValueError, match='expected'): nme(g[:67], g[:67])
    with pytest.raises(ValueError, match='gt has'): nme(g, g[None])
    with pytest.raises(ValueError, match='norm'): nme(g, g, 'bogus')
    z = g.copy(); z[45] = z[36]
    with pytest.raises(ValueError, match='zero'): nme(g, z)

def test_auc_and_failure_rate_extremes():
    assert auc(np.zeros(5)) == 1 and failure_rate(np.zeros(5)) == 0
    assert auc(np.full(5, 0.11)) == 0 and failure_rate(np.full(5, 0.11)) == 1
    assert auc(np.full(5, 0.09), 0.08) == 0 and auc(np.full(5, 0.09), 0.10) == pytest.approx(0.1, abs=2e-3)
    assert failure_rate([0.01, 0.09, 0.2, 0.3], 0.08) == 0.75

def test_ced_monotone_and_bounds():
    e = np.random.default_rng(0).gamma(3, 0.02, 200)
    x, y = ced(e, 0.1, steps=50)
    assert x.shape == y.shape == (51,) and x[0] == 0 and x[-1] == pytest.approx(0.1)
    assert (np.diff(y) >= 0).all() and y[-1] == pytest.approx((e <= 0.1).mean())

def test_empty_raises():
    with pytest.raises(ValueError): auc([])
    with pytest.raises(ValueError): failure_rate([])

def test_summary_keys():
    s = summarize([0.05, 0.09, 0.2], flip=True, method='authors')
    assert s['nme'] == pytest.approx(100 * np.mean([0.05, 0.09, 0.2]))
    assert s['fr@0.10'] == pytest.approx(100 / 3) and s['fr@0.08'] == pytest.approx(200 / 3)
    assert s['n'] == 3 and s['flip'] is True and s['decoding'] == 'authors'

def test_results_roundtrip(tmp_path):
    g = np.stack([face(seed=s) for s in range(4)])
    r = results_from_points(g + [3, 4], g, names=list('abcd'), split='helen_test', flip=True, method='argmax',
                            meta={'preset': 'smoke', 'seed': 3})
    f = save_results(tmp_path, r)
    assert f == tmp_path / 'results_helen_test.npz'
    r2 = load_results(f)
    assert r2.split == 'helen_test' and r2.flip and r2.method == 'argmax' and r2.meta['seed'] == 3
    assert np.allclose(r2.pred, r.pred) and list(r2.names) == list('abcd') and np.allclose(r2.nme, 0.1)
    with np.load(f, allow_pickle=False) as z: assert {'nme', 'pred', 'gt', 'names'} <= set(z.files)
    save_results(tmp_path, results_from_points(g, g, split='afw'))
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert set(m) == {'helen_test', 'afw'} and m['afw']['nme'] == 0

def test_load_results_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='results_x.npz'): load_results(tmp_path, 'x')
    with pytest.raises(ValueError, match='split'): load_results(tmp_path)
    np.savez(tmp_path / 'bad.npz', nme=np.zeros(2))
    with pytest.raises(ValueError, match='missing'): load_results(tmp_path / 'bad.npz')

def test_results_shape_check():
    with pytest.raises(ValueError, match='inconsistent'):
        Results(np.zeros(2), np.zeros((3, 68, 2)), np.zeros((3, 68, 2)), ['a', 'b', 'c'])

def test_concat_and_table(tmp_path):
    g = np.stack([face(seed=s) for s in range(4)])
    a, b = results_from_points(g + [3, 4], g, split='common'), results_from_points(g, g, split='challenging')
    full = concat_results([a, b], 'full')
    assert len(full) == 8 and full.summary()['nme'] == pytest.approx(5)
    with pytest.raises(ValueError, match='mixed'): concat_results([a, results_from_points(g, g, flip=True)], 'x')
    save_results(tmp_path, a)
    t = metrics_table({'base': [a, b, full], 'fromdisk': tmp_path})
    assert t.loc[('base', 'full'), 'nme'] == pytest.approx(5) and t.loc[('fromdisk', 'common'), 'nme'] == pytest.approx(10)

# --- flip, evaluate_model, corruptions, figures -------------------------------------------------------------
from saat_nb.data import render_heatmaps, face_dataset
from saat_nb.landmarks import flip_perm
FLIP_PERM = flip_perm(68)
from saat_nb.hourglass import predict_landmarks, HourglassNet
from saat_nb.metrics import evaluate_model
from saat_nb.robustness import corrupt, CORRUPTIONS, robustness_report, plot_robustness
from saat_nb.evaluate import plot_ced, plot_per_sample_nme, plot_hardest, results_table

def _symmetric_face(size=64, seed=0):
    "(68,2) points whose mirror image, re-labelled with FLIP_PERM, is the same face."
    rng = np.random.default_rng(seed); p = np.zeros((68, 2))
    for i, j in enumerate(FLIP_PERM):
        if i < j or i == j:
            p[i] = rng.integers(8, size - 8, 2)
            if i == j: p[i, 0] = (size - 1) / 2
            else: p[j] = (size - 1 - p[i, 0], p[i, 1])
    return p

class _Fixed(torch.nn.Module):
    "A stub detector whose heatmaps are those of a fixed face, whatever the image."
    def __init__(self, pts, size=64):
        super().__init__(); self.w = torch.nn.Parameter(torch.zeros(1))
        self.register_buffer('hm', torch.from_numpy(render_heatmaps(pts, size, 1.5))[None])
    def forward(self, x): return [self.hm.expand(len(x), -1, -1, -1) + 0 * self.w]

def test_flip_of_symmetric_prediction_changes_nothing():
    p = _symmetric_face(); x = torch.rand(2, 3, 64, 64)
    m = _Fixed(p)
    a, b = predict_landmarks(m, x, flip=False), predict_landmarks(m, x, flip=True)
    assert torch.allclose(a, b, atol=1e-5) and np.allclose(a[0].numpy(), p, atol=0.3)
    q = p.copy(); q[0, 0] += 5                       # an asymmetric face: flip averaging must change it
    m2 = _Fixed(q)
    assert not torch.allclose(predict_landmarks(m2, x), predict_landmarks(m2, x, flip=True))

def test_evaluate_model_perfect_detector(data_dir):
    ds = face_dataset(data_dir, 'smoke', 'test', n=3)
    class Oracle(torch.nn.Module):          # reads the true heatmaps back from the dataset, in order
        def __init__(s): super().__init__(); s.w = torch.nn.Parameter(torch.zeros(1)); s.i = 0
        def forward(s, x):
            hm = torch.stack([ds[s.i + k][1] for k in range(len(x))]); s.i += len(x); return [hm + 0 * s.w]
    r = evaluate_model(Oracle(), ds, split='test', bs=2, progress=False, meta={'seed': 1})
    assert len(r) == 3 and list(r.names) == ds.names and r.meta['seed'] == 1
    assert r.nme.max() < 0.02 and r.summary()['fr@0.08'] == 0

def test_corrupt_deterministic_and_errors():
    x = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)); pts = _symmetric_face()
    for k in CORRUPTIONS:
        a = corrupt(x, k, 1, seed=5, pts=pts)
        assert a.shape == x.shape and torch.equal(a, corrupt(x, k, 1, seed=5, pts=pts)) and not torch.equal(a, x)
    assert float(corrupt(x, 'brightness', 3).mean()) < float(corrupt(x, 'brightness', 1).mean())
    with pytest.raises(ValueError, match='unknown'): corrupt(x, 'snow')
    with pytest.raises(ValueError, match='severities'): corrupt(x, 'jpeg', 0)
    with pytest.raises(ValueError, match='points'): corrupt(x, 'mask')
    with pytest.raises(ValueError, match='image'): corrupt(torch.rand(64, 64), 'blur')

def test_robustness_report_and_figures(data_dir, tmp_path):
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    ds = face_dataset(data_dir, 'smoke', 'test', n=2)
    torch.manual_seed(0); net = HourglassNet(1, 8, 64).eval()
    df = robustness_report(net, ds, kinds=('blur', 'occlusion'), out=tmp_path / 'rob')
    assert list(df.corruption) == ['clean'] + ['blur'] * 3 + ['occlusion'] * 3 and (df.n == 2).all()
    fig = plot_robustness({'net': tmp_path / 'rob' / 'robustness.csv'}); assert len(fig.axes[0].patches) == 6
    with pytest.raises(ValueError, match='unknown'): robustness_report(net, ds, kinds=('fog',))
    a = load_results(tmp_path / 'rob', 'clean-0'); b = load_results(tmp_path / 'rob', 'blur-1')
    assert len(plot_ced({"a": a, "b": b}).lines) == 2
    assert len(plot_per_sample_nme(a, b).lines[0].get_xdata()) == 2
    assert len(plot_hardest(a, b, ds, k=2).axes) == 2
    md, rows = results_table({'x': [a]}, {'x': 'HG*1+SAAT'}, table='masked 300W')
    assert rows[0]['paper full NME%'] == 7.58 and 'clean-0' in md
    with pytest.raises(KeyError): results_table({'x': [a]}, {'x': 'nope'})
    plt.close('all')

def _fake_run(d, saat, preset='smoke', seed=0, shift=0.):
    "A run folder with run.json and results_test/valid.npz (no training)."
    d.mkdir(parents=True)
    (d / 'run.json').write_text(json.dumps({'config': {'preset': {'name': preset, 'steps': 6}, 'saat': saat, 'seed': seed},
                                            'machine': {'cpu': 'x86_64'}, 'status': 'done', 'steps': 6}))
    g = np.stack([face(seed=s) for s in range(4)])
    for split in ('valid', 'test'): save_results(d, results_from_points(g + shift, g, [f'afw/{i}' for i in range(4)], split))
    return d

def test_run_info_pair_and_tables(tmp_path):
    from saat_nb.runs import run_info
    from saat_nb.evaluate import pair_runs, runs_label, results_table, common_splits
    from saat_nb.robustness import robustness_table
    import pandas as pd
    runs = {'b': _fake_run(tmp_path / 'b', False), 's': _fake_run(tmp_path / 's', True, shift=1.)}
    assert run_info(runs['s']) == {'run': 's', 'preset': 'smoke', 'saat': True, 'seed': 0, 'steps': 6, 'machine': 'x86_64', 'precision': None, 'status': 'done'}
    assert pair_runs(runs) == ('b', 's') and pair_runs({'s': runs['s'], 'b': runs['b']}) == ('b', 's')
    assert 'smoke preset' in runs_label(runs) and 'b (6 steps, seed 0)' in runs_label(runs)
    with pytest.raises(ValueError, match='SAAT run'): pair_runs({'b': runs['b']})
    with pytest.raises(FileNotFoundError, match='run.json'): run_info(tmp_path)
    (tmp_path / 'bad').mkdir(); (tmp_path / 'bad' / 'run.json').write_text('{}')
    with pytest.raises(ValueError, match='not a saat_nb run.json'): run_info(tmp_path / 'bad')
    with pytest.raises(ValueError, match='different presets'): pair_runs({**runs, 'c': _fake_run(tmp_path / 'c', True, 'cpu')})
    assert common_splits(runs) == ['valid', 'test']
    md, rows = results_table(runs, {'b': 'HG*1 (baseline-2)', 's': 'HG*1+SAAT'}, splits=('test',))
    assert rows[0]['preset'] == 'smoke' and rows[0]['ours test NME%'] == 0 and 'ours valid NME%' not in rows[0]
    assert rows[1]['ours test NME%'] > 0 and rows[1]['machine'] == 'x86_64'
    df = pd.DataFrame({'corruption': ['clean', 'blur'], 'severity': [0, 1], 'nme': [5., 7.]})
    t = robustness_table({'b': df, 's': df.assign(nme=[4., 6.])})
    assert list(t.columns) == ['b', 's'] and t.loc[('blur', 1), 's'] == 6.
