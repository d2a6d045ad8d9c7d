"""tools/fp16_weights.py: the diagnostic behind MDM's fp16 detector.pth (outputs/mdm_cpu/diagnostics/fp16_weights.md).

It scores a run's fp32 training checkpoint against its exported detector.pth on the same faces."""
import importlib.util
from pathlib import Path
import pytest, torch
from saat_nb.core import get_preset
from saat_nb.checkpoint import CKPT_FORMAT, export_detector, read_checkpoint
from saat_nb.mdm import MDM

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('fp16_weights', REPO / 'tools' / 'fp16_weights.py')
fw = importlib.util.module_from_spec(spec); spec.loader.exec_module(fw)


def _run(tmp_path, data_dir) -> Path:
    "A run folder with a tiny untrained MDM's final.pth (mean shape from a real face) and its exported detector.pth."
    torch.manual_seed(0)
    m = MDM(64, 68, 14, 2, 32, 8)
    from saat_nb.data import face_dataset
    with torch.no_grad():
        m.init_shape.copy_(face_dataset(data_dir, 'mdm_smoke', 'valid', n=1)[0][2])
    d = tmp_path / 'run'; d.mkdir()
    torch.save({'format': CKPT_FORMAT, 'arch': m.arch, 'preset': get_preset('mdm_smoke').to_dict(), 'step': 1,
                'detector': m.state_dict(), 'meta': {}}, d / 'final.pth')
    export_detector(d / 'final.pth')
    return d


def test_fp16_export_scores_like_the_fp32_weights(tmp_path, data_dir):
    d = _run(tmp_path, data_dir)
    assert read_checkpoint(d / 'detector.pth')['dtype'] == 'float16'
    r = fw.compare(d, data_dir, n=6)
    assert r['dtype'] == 'float16' and r['mb'][1] < r['mb'][0]
    for lab, _ in fw.SPLITS:
        a, b, worst = r[lab]
        assert a > 0 and abs(a - b) <= worst + 1e-9 and worst < 0.05, (lab, r[lab])   # same faces, fp16 rounding only
    md = tmp_path / 'fp16.md'
    assert fw.main([str(d), '--data', str(data_dir), '--n', '4', '--out', str(md)]) == 0
    text = md.read_text()
    assert 'Command: `python tools/fp16_weights.py' in text and '| run | float16 |' in text and 'Largest per-face change' in text


def test_refuses_a_folder_without_both_files_before_work(tmp_path, capsys):
    (tmp_path / 'detector.pth').write_bytes(b'')
    with pytest.raises(SystemExit) as e: fw.main([str(tmp_path), '--data', str(tmp_path)])
    assert e.value.code == 2 and 'no final.pth' in capsys.readouterr().err
