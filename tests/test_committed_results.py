"The committed cpu-preset detectors are the ones behind the committed results: re-evaluated, they give the same per-face NME."
from pathlib import Path
import numpy as np
import pytest
from saat_nb.core import Preset
from saat_nb.data import find_faces, LandmarkDataset
from saat_nb.metrics import evaluate_model, load_results
from saat_nb.predict import load_detector

CPU = Path(__file__).resolve().parents[1] / 'outputs' / 'cpu'

RUNS = sorted(d.name for d in CPU.glob('*_s[0-9]*') if (d / 'run.json').is_file() and d.name.split('_')[0] in ('baseline', 'saat'))

def test_every_committed_seed_has_its_pair():
    seeds = {n.rsplit('_s', 1)[1] for n in RUNS}
    assert seeds and RUNS == sorted(f'{k}_s{s}' for s in seeds for k in ('baseline', 'saat')), RUNS

@pytest.mark.parametrize('run', RUNS)
def test_detector_reproduces_committed_nme(run, data_dir):
    d = CPU / run
    assert (d / 'detector.pth').is_file(), f'{d}/detector.pth is missing: it is committed with the results'
    model, ck = load_detector(d / 'detector.pth')
    ref = load_results(d, 'test')                          # what train_run measured on AFW at the end of training
    faces = {f.name: f for f in find_faces(data_dir, 'afw')}
    names = list(ref.names[:24])
    p = Preset.from_dict(ck['preset'])   # as trained, even if the preset moves on
    ds = LandmarkDataset([faces[n] for n in names], p)
    got = evaluate_model(model, ds, split='test', progress=False, bs=8)
    assert list(got.names) == names
    np.testing.assert_allclose(got.nme, ref.nme[:24], rtol=1e-4, atol=1e-6)
