"Tests for saat_nb.reproduce: the smoke pipeline end to end, skipping on re-run, and the missing-data error."
import contextlib, io, json, subprocess, sys
from pathlib import Path
import pytest
import numpy as np
from saat_nb.reproduce import main, reproduce, stage_runs, compare_seeds, verdict
from saat_nb.paired import paired_stats
from saat_nb.runs import ABLATIONS

STAGES = ['baseline', 'saat', 'evaluate', 'ablations', 'figures']

def _run(argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): rc = main(argv)
    return rc, buf.getvalue()

@pytest.fixture(scope='module')
def smoke(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp('repro')
    argv = ['--preset', 'smoke', '--data', str(data_dir), '--out', str(out), '--seeds', '0', '--stages', *STAGES, '--ablations', 'noD']
    rc, log = _run(argv)
    return out / 'smoke', argv, rc, log

def test_end_to_end(smoke):
    root, argv, rc, log = smoke
    assert rc == 0 and 'skipped' not in log
    for run in ('baseline_s0', 'saat_s0', 'abl_noD_s0'):
        assert (root / run / f'{run}.ipynb').is_file() and (root / run / 'final.pth').is_file()
        nb = json.loads((root / run / f'{run}.ipynb').read_text())
        assert any('injected-parameters' in c['metadata'].get('tags', []) for c in nb['cells'])
    assert json.loads((root / 'abl_noD_s0' / 'run.json').read_text())['config']['ablation']['use_d'] is False
    assert (root / 'saat_s0' / 'saat.pth').is_file() and not (root / 'baseline_s0' / 'saat.pth').exists()   # the explorer's trained attacker
    m = json.loads((root / 'saat_s0' / 'metrics.json').read_text())
    assert {'valid', 'test', 'masked_valid', 'masked_test'} <= set(m)
    res = json.loads((root / 'results.json').read_text())
    assert set(res['main']) == {'helen/testset', 'afw', 'masked helen/testset', 'masked afw'}
    assert abs(res['main']['afw']['saat_mean'] - 100 * m['test']['nme']) < 1e-6 or abs(res['main']['afw']['saat_mean'] - m['test']['nme']) < 1e-6
    assert [r['row'] for r in res['ablations']] == ['baseline', 'saat', 'noD'] and len(res['fluctuation']) == 2
    md = (root / 'results.md').read_text()
    data = argv[argv.index('--data') + 1]                   # the data root this call was given, not a hard-coded one
    assert md.splitlines()[2].startswith(f'Reproduce all of it: `saat-reproduce --preset smoke --data {data} --seeds 0`')
    assert res['data'] == data and res['ablations'][2]['delta_test'] is not None and 'ours Δafw vs SAAT' in md
    assert 'written by: `saat-reproduce --preset smoke' in md and 'The real run is `saat-reproduce --preset cpu`' in md
    assert res['verdict'] in md and 'no interval over seeds' in res['verdict']   # one seed: no paired interval
    q = res['main']['afw']['paired']
    assert q['n_seeds'] == 1 and q['n_faces'] == len(np.load(root / 'saat_s0' / 'results_test.npz')['nme']) and q['established'] is None
    assert [r['row'] for r in res['ablation_stats']] == ['baseline', 'noD'] and (root / 'figures' / 'paired.png').is_file()
    assert len(list((root / 'figures').rglob('*.png'))) >= 8 and (root / 'figures' / 's0' / 'stage_evaluate.done').is_file() and (root / 'figures' / 'ablations.png').is_file()
    ev = json.loads((root / 'figures' / 's0' / '07_evaluate.ipynb').read_text())     # 07 executed by the evaluate stage on the seed-0 runs
    src = ''.join(''.join(c['source']) for c in ev['cells'] if 'injected-parameters' in c['metadata'].get('tags', []))
    assert str(root / 'saat_s0') in src and str(root / 'figures') in src and (root / 'figures' / 's0' / 'adversarial_gallery.png').is_file()

def test_rerun_skips(smoke):
    root, argv, _, _ = smoke
    mt = {r: (root / r / 'final.pth').stat().st_mtime_ns for r in ('baseline_s0', 'saat_s0', 'abl_noD_s0')}
    rc, log = _run(argv)
    assert rc == 0 and log.count('skipped: done') == 7, log     # 3 runs, 2 evaluations, 07 for seed 0, figures
    assert 'trained: nothing; rewrote: nothing' in log
    assert mt == {r: (root / r / 'final.pth').stat().st_mtime_ns for r in mt}

def test_missing_data(tmp_path, capsys):
    with pytest.raises(SystemExit) as e: main(['--preset', 'smoke', '--data', str(tmp_path / 'nope'), '--out', str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'SAAT_DATA' in err and '--data' in err and 'nope' in err
    (tmp_path / 'afw').mkdir()
    with pytest.raises(SystemExit): main(['--preset', 'smoke', '--data', str(tmp_path), '--out', str(tmp_path)])
    assert 'helen/trainset' in capsys.readouterr().err and not (tmp_path / 'smoke' / 'baseline_s0').exists()

def test_bad_arguments(data_dir, tmp_path):
    with pytest.raises(ValueError, match='unknown ablation'): reproduce('smoke', data_dir, tmp_path, [0], ['ablations'], ablations=['beta7'])
    with pytest.raises(ValueError, match='unknown stage'): reproduce('smoke', data_dir, tmp_path, [0], ['train'])

def test_verdict_from_numbers():
    assert len(stage_runs('ablations', [2, 0, 1])) == 2 * len(ABLATIONS) == 22   # the first two seeds
    f = np.array(['a', 'b'])
    base = {s: (f, np.array([5., 6.]) + s) for s in range(3)}
    c = compare_seeds([5.5, 6.5, 7.5], [5.2, 6.2, 7.2])   # unpaired: a 0.3 gain inside a 2-point spread
    assert c['beyond_spread'] is False
    c['paired'] = paired_stats(base, {s: (f, v - .3 - .01 * s) for s, (_, v) in base.items()})
    assert '**established**' in verdict({'afw': c}) and 'Established: afw' in verdict({'afw': c})
    c['paired'] = paired_stats(base, {s: (f, v + (.4, -.4, 0.)[s]) for s, (_, v) in base.items()})
    assert 'not established** (the interval includes zero)' in verdict({'afw': c})

def test_console_script_help():
    exe = Path(sys.executable).parent / 'saat-reproduce'
    r = subprocess.run([str(exe), '--help'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "default: the cpu preset" in r.stdout.lower().replace('\n', ' ')

def test_interrupted_run_resumes(smoke):
    "A run folder with checkpoint.pth but no final.pth (an interrupted run) is resumed in the same folder, not restarted."
    root, argv, _, _ = smoke
    d = root / 'baseline_s0'
    info = json.loads((d / 'run.json').read_text()); info['status'] = 'running'; (d / 'run.json').write_text(json.dumps(info))
    for f in ('final.pth', 'metrics.json', 'detector.pth'): (d / f).unlink()
    rows = (d / 'log.csv').read_text().count('\n')
    rc, log = _run(argv[:argv.index('--stages') + 1] + ['baseline'])
    assert rc == 0 and 'baseline/baseline_s0: training (resuming)' in log and (d / 'final.pth').is_file()
    assert (d / 'log.csv').read_text().count('\n') == rows          # no step trained twice
    assert 'resuming' in (d / 'baseline_s0.ipynb').read_text()       # train_run's own message, in the executed notebook


def _fresh_clone(root: Path, dst: Path) -> Path:
    "Copy an output folder as git would clone it: without what .gitignore keeps out (weights but detector.pth, caches, masked copy)."
    import shutil
    ignore = shutil.ignore_patterns('final.pth', 'checkpoint.pth', '.verified.json', '.lock', '.lock.json', 'masked300w*')
    shutil.copytree(root, dst, ignore=ignore)
    return dst

def test_fresh_clone_keeps_results(smoke, tmp_path, monkeypatch):
    "The committed runs on a fresh clone: nothing retrained, every detector re-evaluated and matching, no file changed (results.md included)."
    root, argv, _, _ = smoke
    rel = argv[:argv.index('--out') + 1] + ['.'] + argv[argv.index('--out') + 2:]    # one command, as the README's, from the clone's root
    monkeypatch.chdir(root.parent)
    assert _run(rel)[0] == 0                               # the committed state: every stage through, written by that command
    clone = _fresh_clone(root, tmp_path / 'smoke')
    before = {f: f.read_bytes() for f in clone.rglob('*') if f.is_file()}
    monkeypatch.chdir(tmp_path)
    rc, log = _run(rel)
    assert rc == 0 and ': training' not in log and log.count('matches the committed NME') == 2, log
    assert 'trained: nothing; rewrote: nothing' in log
    changed = [str(f.relative_to(clone)) for f, b in before.items() if f.read_bytes() != b]
    assert not changed, changed
    rc, log = _run(['--preset', 'smoke', '--data', argv[argv.index('--data') + 1], '--out', str(tmp_path), '--seeds', '0', '--stages', 'figures'])
    assert rc == 0 and 'figures: skipped: done' in log

def test_results_gather_every_run(smoke, tmp_path):
    "A call naming fewer seeds than the folder holds keeps the other seeds in results.md (no three-seed file becomes a one-seed one)."
    import shutil
    root, argv, _, _ = smoke
    clone = _fresh_clone(root, tmp_path / 'smoke')
    for k in ('baseline', 'saat'): shutil.copytree(clone / f'{k}_s0', clone / f'{k}_s1')   # a second seed's finished runs
    rc, log = _run(['--preset', 'smoke', '--data', argv[argv.index('--data') + 1], '--out', str(tmp_path), '--seeds', '0', '--stages', 'figures'])
    res = json.loads((clone / 'results.json').read_text())
    assert rc == 0 and res['seeds'] == [0, 1] and res['main']['afw']['n_seeds'] == 2 and '--seeds 0 1' in (clone / 'results.md').read_text()

def test_second_reproduce_on_one_out_is_refused(data_dir, tmp_path, capsys):
    "Another live saat-reproduce on the same --out: refused at once (exit 2), naming the folder and the holder's PID."
    code = "import sys, time; from saat_nb.core import FolderLock; l = FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, '-c', code, str(tmp_path / 'smoke')], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        rc = main(['--preset', 'smoke', '--data', str(data_dir), '--out', str(tmp_path), '--seeds', '0', '--stages', 'baseline'])
        err = capsys.readouterr().err
        assert rc == 2 and f'PID {holder.pid}' in err and str(tmp_path / 'smoke') in err, err
        assert not (tmp_path / 'smoke' / 'baseline_s0').exists()
    finally: holder.kill(); holder.wait()

def test_bad_data_stops_before_training(data_dir, tmp_path, capsys):
    "A 67-point .pts in the test split and an image without .pts: one screen naming both, exit 2, no traceback, nothing trained."
    from saat_nb.data import find_faces
    bad = tmp_path / '300w'
    for sub in ('helen/trainset', 'helen/testset', 'afw'):
        (bad / sub).mkdir(parents=True)
        for f in find_faces(data_dir, sub)[:16]:
            for a in (f.image, f.pts): (bad / sub / a.name).symlink_to(a)
    victim = sorted((bad / 'afw').glob('*.pts'))[0]
    lines = victim.read_text().splitlines(); victim.unlink()
    victim.write_text('\n'.join(l for i, l in enumerate(lines) if i != 5) + '\n')   # drop one point line: 67 points
    orphan = sorted((bad / 'helen/testset').glob('*.pts'))[0]; orphan.unlink()
    with pytest.raises(SystemExit) as e:
        main(['--preset', 'smoke', '--data', str(bad), '--out', str(tmp_path / 'out'), '--seeds', '0', '--stages', 'baseline'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and victim.name in err and '67' in err and orphan.stem in err and 'Traceback' not in err, err
    assert not (tmp_path / 'out').exists()

def test_kernels_run_without_tcp_warning(tmp_path, capfd):
    "papermill's kernels use local IPC sockets: no 'running over TCP without encryption' warning on every run."
    from saat_nb.reproduce import execute
    nb = tmp_path / 'nb.ipynb'
    nb.write_text(json.dumps({'cells': [{'cell_type': 'code', 'metadata': {'tags': ['parameters']}, 'source': 'x = 1', 'outputs': [], 'execution_count': None, 'id': 'a'},
                                        {'cell_type': 'code', 'metadata': {}, 'source': 'print(x + 1)', 'outputs': [], 'execution_count': None, 'id': 'b'}],
                              'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
    execute(nb, tmp_path / 'out.ipynb', {'x': 41})
    out = capfd.readouterr()
    assert '42' in (tmp_path / 'out.ipynb').read_text() and 'without encryption' not in out.err + out.out

def test_whole_preset_crosses_papermill(data_dir, tmp_path):
    """reproduce(get_preset('smoke', steps=4)): the run notebook trains 4 steps, not the named preset's 6, and run.json,
    results.json/results.md and the stage hash say what was trained; the named preset on that folder is refused."""
    from saat_nb.core import get_preset, Preset, PRESETS
    from saat_nb.runs import read_log, RunBroken, ablation_config
    from saat_nb.reproduce import eval_nb_hash, preset_param
    p = get_preset('smoke', steps=4)
    assert p.steps != PRESETS['smoke'].steps
    with contextlib.redirect_stdout(io.StringIO()) as buf: res = reproduce(p, data_dir, tmp_path, [0], ['saat'])
    root = tmp_path / 'smoke'; d = root / 'saat_s0'
    info = json.loads((d / 'run.json').read_text())
    assert Preset.from_dict(info['config']['preset']) == p and info['config']['ablation'] == ablation_config(p)
    assert len(read_log(d)['step']) == 4 and int(read_log(d)['step'][-1]) == 4   # log.csv: one row a step
    nb = json.loads((d / 'saat_s0.ipynb').read_text())     # the executed 06b_train: its injected cell holds the whole preset
    injected = ''.join(''.join(c['source']) for c in nb['cells'] if 'injected-parameters' in c['metadata'].get('tags', []))
    assert '"steps": 4' in injected and '"n_valid": 8' in injected, injected
    assert res['preset'] == preset_param(p) == json.loads((root / 'results.json').read_text())['preset']
    md = (root / 'results.md').read_text()
    assert '64 px, width 32, 4 steps' in md and "reproduce(get_preset('smoke', steps=4)" in md, md[:1500]
    assert "steps=4" in buf.getvalue()
    pair = {'saat_s0': d}
    assert eval_nb_hash(p, pair, 0) != eval_nb_hash(PRESETS['smoke'], pair, 0) == eval_nb_hash(get_preset('smoke', amp=True), pair, 0)
    with pytest.raises(RunBroken, match='saat_s0: steps 4 trained vs 6 asked'):
        reproduce('smoke', data_dir, tmp_path, [0], ['saat', 'figures'])
    assert len(read_log(d)['step']) == 4


def test_every_ablation_switch_crosses_into_06():
    "Each of 06b_train's parameters (the ablation switches, adv_bn, a benchmark's protocol) maps to a train_run keyword, none dropped."
    import nbformat
    from saat_nb.reproduce import train_kwargs
    from saat_nb.runs import ABLATION_DEFAULTS
    nb = nbformat.read(Path(__file__).resolve().parents[1] / 'nbs' / '06b_train.ipynb', as_version=4)
    cell = next(c for c in nb.cells if 'parameters' in c.metadata.get('tags', []))
    names = [l.split('=')[0].strip() for l in cell.source.splitlines() if '=' in l and not l.startswith('#')]
    params = {n: object() for n in names if n not in ('PRESET', 'DATA', 'OUT', 'SEED', 'SAAT')}
    kw = train_kwargs({'SAAT': True, 'SEED': 0, **params})
    assert set(kw) - {'saat', 'seed'} == {*ABLATION_DEFAULTS, 'update_order', 'protocol', 'data300w'}, (sorted(params), sorted(kw))
    assert set(params) == {*ABLATION_DEFAULTS, 'update_order', 'PROTOCOL', 'DATA300W'}   # one spelling: train_run's keywords (upper case: papermill's data params)
    assert train_kwargs({'SAAT': True, 'SEED': 1, 'adv_bn': 'keep'})['adv_bn'] == 'keep'


FIX = Path(__file__).resolve().parent / 'fixtures'

def test_benchmark_wflw_end_to_end_trains_98_points_that_flip(data_dir, tmp_path, monkeypatch):
    "saat-reproduce --protocol wflw on the fixture: both runs trained with 98 heatmaps, scored on test + 6 subsets."
    import torch
    from saat_nb.checkpoint import load_detector
    from saat_nb.hourglass import predict_landmarks
    from saat_nb.data import face_dataset
    from saat_nb.benchmarks import wflw_items
    from saat_nb.landmarks import flip_perm
    monkeypatch.setenv('SAAT_CACHE', str(tmp_path / 'cache'))
    rc, log = _run(['--protocol', 'wflw', '--preset', 'smoke', '--data', str(FIX / 'wflw'), '--out', str(tmp_path), '--seeds', '0'])
    root = tmp_path / 'smoke' / 'wflw'
    assert rc == 0 and 'trained: saat_s0, baseline_s0' in log, log
    res = json.loads((root / 'results.json').read_text())
    assert [r['row'] for r in res['rows']] == ['ours baseline (1 seed)', 'ours saat (1 seed)', 'paper HG*1+SAAT (Table 3)']
    assert res['faces']['test'] == 4 and 'test_blur nme' in res['rows'][0] and (root / 'figures' / 'ced_test.png').is_file()
    md = (root / 'results.md').read_text()
    assert 'Table 3' in md and 'outer eye corners 60 and 72' in md and 'these numbers mean nothing' in md
    model, ck = load_detector(root / 'saat_s0' / 'final.pth')
    assert ck['arch']['n_points'] == 98 and np.load(root / 'saat_s0' / 'results_test_blur.npz')['pred'].shape[1:] == (98, 2)
    # the flip test: the prediction on the mirrored face, mirrored back with flip_perm(98), is the prediction on the face
    x = face_dataset(items=wflw_items(FIX / 'wflw'), split='test', preset='smoke')[0][0][None]
    p, pm = predict_landmarks(model, x, flip=True)[0], predict_landmarks(model, x.flip(-1), flip=True)[0]
    q = pm[torch.tensor(flip_perm(98))].clone(); q[:, 0] = x.shape[-1] - 1 - q[:, 0]
    assert (q - p).abs().max() <= 0.5 + 1e-6
    rc, log = _run(['--protocol', 'wflw', '--preset', 'smoke', '--data', str(FIX / 'wflw'), '--out', str(tmp_path), '--seeds', '0'])
    assert rc == 0 and 'trained: nothing; rewrote: nothing' in log, log


def test_benchmark_300vw_end_to_end(data_dir, tmp_path, monkeypatch):
    "--protocol 300vw: 300W's training faces + the training video, scored per category; a partial copy says what it lacks."
    monkeypatch.setenv('SAAT_CACHE', str(tmp_path / 'cache'))
    rc, log = _run(['--protocol', '300vw', '--preset', 'smoke', '--data', str(FIX / '300vw'), '--data300w', str(data_dir),
                    '--out', str(tmp_path), '--seeds', '0'])
    root = tmp_path / 'smoke' / '300vw'
    assert rc == 0, log
    res = json.loads((root / 'results.json').read_text())
    assert res['faces'] == {'cat1': 3, 'cat2': 3, 'cat3': 3} and 'cat3 nme' in res['rows'][1]
    assert [r['row'] for r in res['rows']][2:] == ['paper HG*1 (baseline-2) (Table 2)', 'paper HG*1+SAAT (Table 2)']
    assert '49 train video(s) not in this copy' in (root / 'results.md').read_text()
    cfg = json.loads((root / 'baseline_s0' / 'run.json').read_text())['config']
    assert cfg['protocol'] == '300vw' and cfg['eval_splits'] == ['cat1', 'cat2', 'cat3']


def test_benchmark_cofw68_scores_the_300w_runs(smoke, monkeypatch):
    "--protocol cofw68 trains nothing: it scores the 300W runs of the preset (the smoke fixture's) into cofw68/<run>/."
    root, argv, _, _ = smoke
    out = argv[argv.index('--out') + 1]
    before = (root / 'saat_s0' / 'metrics.json').read_text()
    rc, log = _run(['--protocol', 'cofw68', '--preset', 'smoke', '--data', str(FIX / 'cofw68'), '--out', out, '--seeds', '0'])
    assert rc == 0 and 'trained: nothing' in log and 'cofw68/saat_s0: scored' in log, log
    res = json.loads((root / 'cofw68' / 'results.json').read_text())
    assert res['faces'] == {'test': 3} and res['rows'][2]['row'] == 'paper HG*1+SAAT (Table 4)'
    assert (root / 'saat_s0' / 'metrics.json').read_text() == before          # the 300W run folders are not touched
    m = json.loads((root / 'cofw68' / 'saat_s0' / 'metrics.json').read_text())
    assert m['test']['n'] == 3 and abs(res['rows'][1]['test nme'] - m['test']['nme']) < 1e-9


def test_benchmark_without_its_data_is_one_screen(tmp_path, capsys):
    for protocol in ('wflw', 'cofw68', '300vw'):
        rc = main(['--protocol', protocol, '--preset', 'smoke', '--data', str(tmp_path), '--out', str(tmp_path / 'o')])
        err = capsys.readouterr().err
        assert rc == 2 and f'--protocol {protocol}' in err and 'missing' in err and 'Nothing was trained' in err, err
        assert len(err.splitlines()) <= 8 and not (tmp_path / 'o').exists()
    assert main(['--protocol', 'wflw', '--preset', 'smoke']) == 2 and 'needs --data DIR' in capsys.readouterr().err
    assert main(['--protocol', 'wflw', '--data', str(tmp_path), '--stages', 'saat']) == 2
