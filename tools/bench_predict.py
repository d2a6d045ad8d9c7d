"""Faces per second of the prediction paths, side by side in one run: torch (the fast fp32 copy) and onnxruntime,
at the cpu preset's 64 px (the committed detector) and at the paper's 256 px (HG*1, width 256, untrained: speed
only), with face detection excluded (the crops given) and included (dlib on the photo).

    python tools/bench_predict.py [--threads 2] [--faces 32] [--repeats 3]
    -> outputs/benchmarks/predict.json and .md

Each row times `Predictor.landmarks_batch` (detection excluded: landmark boxes given, all faces in one call) and
`Predictor.landmarks_many` (detection included), on the same AFW photos; the median of `--repeats` after one
warm-up. Speeds are compared as ratios within this run (the machine is shared).
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from saat_nb.core import machine_info
from saat_nb.data import find_faces, load_face, face_box
from saat_nb.hourglass import HourglassNet
from saat_nb.predict import Predictor, export_onnx
from saat_nb.detect import detector_available
sys.path.insert(0, str(ROOT / 'tools'))
from bench_report import finish, write


def timed(fn, repeats: int) -> float:
    fn()                                                     # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=os.environ.get('SAAT_DATA', str(ROOT.parent / 'shared' / 'data' / '300w')))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--faces', type=int, default=32)
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    load0, t_all = os.getloadavg()[0], time.time()
    faces = [load_face(f) for f in find_faces(a.data, 'afw')[:a.faces]]
    imgs, boxes = [i for i, _ in faces], [face_box(p) for _, p in faces]
    tmp = Path(tempfile.mkdtemp())
    big = HourglassNet(1, 256, 256)                          # the paper's HG*1 at 256 px: untrained, speed only
    torch.save({'format': 'saat_nb/1', 'arch': big.arch, 'preset': {}, 'step': 0, 'detector': big.state_dict(), 'meta': {}},
               tmp / 'hg1_256.pth')
    ckpts = {'64 px (cpu preset, committed detector)': ROOT / 'outputs' / 'cpu' / 'saat_s0' / 'detector.pth',
             '256 px (HG*1 width 256, untrained)': tmp / 'hg1_256.pth'}
    det_why = detector_available('dlib')
    rows = []
    for label, ck in ckpts.items():
        onnx_path = export_onnx(ck, tmp / (ck.stem + '.onnx'))
        for backend, pred in (('torch', Predictor.from_checkpoint(ck)), ('onnxruntime', Predictor.from_onnx(onnx_path, threads=a.threads))):
            n = len(imgs)
            t_crop = timed(lambda: pred.landmarks_batch(imgs, boxes), a.repeats)
            row = {'model': label, 'backend': backend, 'faces': n, 'faces_per_s_no_detection': n / t_crop}
            if det_why is None:
                got = pred.landmarks_many(imgs)
                nf = sum(len(r.points) for r in got)
                t_det = timed(lambda: pred.landmarks_many(imgs), a.repeats)
                row.update(faces_found=nf, faces_per_s_with_detection=nf / t_det, images_per_s_with_detection=n / t_det)
            rows.append(row)
            print(row)
    rec = {'command': 'python tools/bench_predict.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
           'date': time.strftime('%Y-%m-%d'), 'machine': machine_info(), 'threads': a.threads, 'repeats': a.repeats,
           'detector': 'dlib' if det_why is None else f'unavailable: {det_why}', 'rows': rows}
    finish(rec, load0, t_all)
    md = [f"{len(imgs)} AFW photos. Without detection: their landmark boxes given, all crops in one call "
          f"(`landmarks_batch`). With detection: dlib's HOG detector on each photo, then every face it found (`landmarks_many`). "
          f"Median of {a.repeats} timings after a warm-up; torch is the fast fp32 copy (`hourglass.inference_copy`).", '',
          '| model | backend | faces/s, no detection | faces/s, with detection | images/s, with detection | vs torch (no detection) |',
          '|---|---|---|---|---|---|']
    for r in rows:
        ref = next(x for x in rows if x['model'] == r['model'] and x['backend'] == 'torch')
        md.append(f"| {r['model']} | {r['backend']} | {r['faces_per_s_no_detection']:.1f} | "
                  f"{r.get('faces_per_s_with_detection', float('nan')):.1f} | {r.get('images_per_s_with_detection', float('nan')):.1f} | "
                  f"{r['faces_per_s_no_detection'] / ref['faces_per_s_no_detection']:.2f}x |")
    print(write('predict', rec, 'Prediction speed: torch and onnxruntime, with and without face detection', md).read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
