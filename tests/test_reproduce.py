"Tests for saat_nb.reproduce: the smoke pipeline end to end, skipping on re-run, and the missing-data error."
import contextlib, io, json, subprocess, sys
from pathlib import Path
import pytest
from saat_nb.reproduce import main, reproduce, stage_runs, compare_seeds, verdict, ABLATIONS

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
    m = json.loads((root / 'saat_s0' / 'metrics.json').read_text())
    assert {'valid', 'test', 'masked_valid', 'masked_test'} <= set(m)
    res = json.loads((root / 'results.json').read_text())
    assert set(res['main']) == {'helen/testset', 'afw', 'masked helen/testset', 'masked afw'}
    assert abs(res['main']['afw']['saat_mean'] - 100 * m['test']['nme']) < 1e-6 or abs(res['main']['afw']['saat_mean'] - m['test']['nme']) < 1e-6
    assert [r['row'] for r in res['ablations']] == ['baseline', 'saat', 'noD'] and len(res['fluctuation']) == 2
    md = (root / 'results.md').read_text()
    assert md.splitlines()[2].startswith('Reproduce all of it: `saat-reproduce --preset smoke --data ../shared/data/300w --seeds 0`')
    assert 'written by: `saat-reproduce --preset smoke' in md and 'The real run is `saat-reproduce --preset cpu`' in md
    assert res['verdict'] in md and 'cannot be told from noise' in res['verdict']   # one seed: no spread
    assert len(list((root / 'figures').rglob('*.png'))) >= 8 and (root / 'stage_evaluate.done').is_file() and (root / 'figures' / 'ablations.png').is_file()
    ev = json.loads((root / 'figures' / 's0' / '07_evaluate.ipynb').read_text())     # 07 executed by the evaluate stage on the seed-0 runs
    src = ''.join(''.join(c['source']) for c in ev['cells'] if 'injected-parameters' in c['metadata'].get('tags', []))
    assert str(root / 'saat_s0') in src and str(root / 'figures') in src and (root / 'figures' / 's0' / 'adversarial_gallery.png').is_file()

def test_rerun_skips(smoke):
    root, argv, _, _ = smoke
    mt = {r: (root / r / 'final.pth').stat().st_mtime_ns for r in ('baseline_s0', 'saat_s0', 'abl_noD_s0')}
    rc, log = _run(argv)
    assert rc == 0 and log.count('skipped: done') == 5, log
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
    assert len(stage_runs('ablations', [2, 0])) == len(ABLATIONS) == 10
    c = compare_seeds([5.0, 5.2, 5.1], [4.0, 4.3, 4.1])
    assert c['beyond_spread'] and 'beyond seed noise' in verdict({'afw': c})
    c = compare_seeds([5.0, 6.0], [5.4, 5.2])
    assert c['beyond_spread'] is False and 'not distinguishable' in verdict({'afw': c})

def test_console_script_help():
    exe = Path(sys.executable).parent / 'saat-reproduce'
    r = subprocess.run([str(exe), '--help'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "default: the cpu preset" in r.stdout.lower().replace('\n', ' ')

def test_interrupted_run_resumes(smoke):
    "A run folder with checkpoint.pth but no final.pth (an interrupted run) is resumed in the same folder, not restarted."
    root, argv, _, _ = smoke
    d = root / 'baseline_s0'
    (d / 'final.pth').unlink(); (d / 'metrics.json').unlink()
    rows = (d / 'log.csv').read_text().count('\n')
    rc, log = _run(argv[:argv.index('--stages') + 1] + ['baseline'])
    assert rc == 0 and 'baseline/baseline_s0: training (resuming)' in log and (d / 'final.pth').is_file()
    assert (d / 'log.csv').read_text().count('\n') == rows          # no step trained twice
    assert 'resuming' in (d / 'baseline_s0.ipynb').read_text()       # train_run's own message, in the executed notebook
