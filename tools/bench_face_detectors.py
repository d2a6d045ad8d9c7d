"""Measure the face detectors that install from the registries, and fit each one's box mapping on the training set.

    python tools/bench_face_detectors.py [--data ../shared/data/300w] [--threads 2]
    -> outputs/benchmarks/face_detectors.json and .md

For every photo of helen/trainset (the fit), helen/testset and afw (the report): run each detector, match its
boxes to the annotated face (`detect.match_face`: the detection whose centre lies inside the face's landmark box,
largest overlap first), and time it. The mapping from a detector's box to the landmark box the detector was
trained on (`detect.fit_box_map`) is fitted on helen/trainset only; recall and the NME of the committed cpu SAAT
detector with mapped detector boxes vs landmark boxes are reported on helen/testset and afw. Nothing is chosen on
afw: the default detector is the one with the higher helen/testset recall.
"""
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from saat_nb.core import machine_info
from saat_nb.data import find_faces, load_face, face_box
from saat_nb.detect import DETECTORS, get_detector, match_face, fit_box_map, BoxMap
from saat_nb.metrics import nme
sys.path.insert(0, str(ROOT / "tools"))
from bench_report import finish, write


def run_detector(name, faces):
    "-> per face: (matched detector box or None, number of detections), and seconds per photo."
    det, out, t = get_detector(name), [], 0.
    for f in faces:
        img, pts = load_face(f)
        t0 = time.perf_counter(); boxes = det(img); t += time.perf_counter() - t0
        i = match_face(boxes, face_box(pts))
        out.append((None if i is None else boxes[i][:4].tolist(), len(boxes)))
    return out, t / max(1, len(faces))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=os.environ.get('SAAT_DATA', str(ROOT.parent / 'shared' / 'data' / '300w')))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--checkpoint', default=str(ROOT / 'outputs' / 'cpu' / 'saat_s0' / 'detector.pth'))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    load0, t_all = os.getloadavg()[0], time.time()
    subsets = {'helen/trainset': find_faces(a.data, 'helen/trainset'), 'helen/testset': find_faces(a.data, 'helen/testset'),
               'afw': find_faces(a.data, 'afw')}
    from saat_nb.predict import Predictor
    pred = Predictor.from_checkpoint(a.checkpoint)
    rec = {'command': 'python tools/bench_face_detectors.py ' + ' '.join(argv or sys.argv[1:]), 'date': time.strftime('%Y-%m-%d'),
           'machine': machine_info(), 'threads': a.threads, 'checkpoint': os.path.relpath(a.checkpoint, ROOT), 'detectors': {}}
    for name in DETECTORS:
        try: get_detector(name)
        except ImportError as e: rec['detectors'][name] = {'unavailable': str(e)}; print(f"{name}: {e}"); continue
        r = {}
        for sub, faces in subsets.items():
            m, spi = run_detector(name, faces)
            r[sub] = {'faces': len(faces), 'found': sum(b is not None for b, _ in m), 'recall': sum(b is not None for b, _ in m) / len(faces),
                      'ms_per_photo': 1000 * spi, 'boxes': [b for b, _ in m]}
            print(f"{name} {sub}: recall {r[sub]['recall']:.3f} ({r[sub]['found']}/{len(faces)}), {1000 * spi:.0f} ms/photo")
        tr = [(b, face_box(load_face(f)[1])) for f, b in zip(subsets['helen/trainset'], r['helen/trainset']['boxes']) if b is not None]
        bm = fit_box_map([d for d, _ in tr], [l for _, l in tr])
        r['box_map'] = bm._asdict()
        for sub in ('helen/testset', 'afw'):   # NME of the committed detector: landmark boxes vs this detector's mapped boxes
            keep = [(f, b) for f, b in zip(subsets[sub], r[sub]['boxes']) if b is not None]
            imgs_pts = [load_face(f) for f, _ in keep]
            gt = np.stack([p for _, p in imgs_pts])
            lm = pred.landmarks_batch([i for i, _ in imgs_pts], [face_box(p) for _, p in imgs_pts])
            dt = pred.landmarks_batch([i for i, _ in imgs_pts], [bm(np.asarray(b)) for _, b in keep])
            r[sub]['nme_landmark_box'] = 100 * float(nme(lm, gt).mean())
            r[sub]['nme_detector_box'] = 100 * float(nme(dt, gt).mean())
            print(f"{name} {sub}: NME {r[sub]['nme_landmark_box']:.2f}% (landmark box) vs {r[sub]['nme_detector_box']:.2f}% (mapped detector box), {len(keep)} faces")
        for sub in subsets: del r[sub]['boxes']
        rec['detectors'][name] = r
    finish(rec, load0, t_all)
    avail = {k: v for k, v in rec['detectors'].items() if 'unavailable' not in v}
    rec['default'] = max(avail, key=lambda k: avail[k]['helen/testset']['recall']) if avail else None
    md = [
          'Recall: the share of annotated faces a detection matches (its centre inside the landmark box). Box map: fitted on '
          'helen/trainset only (landmark-box centre = box centre + (dx·w, dy·h), size = (sx·w, sy·h)). NME % with the '
          'landmark box vs with the mapped detector box, on the faces the detector found.', '',
          '| detector | helen/trainset recall | helen/testset recall | afw recall | ms/photo (helen/testset) | box map (dx, dy, sx, sy) '
          '| helen/testset NME: landmark box / detector box | afw NME: landmark box / detector box |', '|---|---|---|---|---|---|---|---|']
    for k, r in rec['detectors'].items():
        if 'unavailable' in r: md.append(f"| {k} | unavailable: {r['unavailable']} |||||||"); continue
        bm = r['box_map']
        md.append(f"| {k} | {r['helen/trainset']['recall']:.3f} | {r['helen/testset']['recall']:.3f} | {r['afw']['recall']:.3f} | "
                  f"{r['helen/testset']['ms_per_photo']:.0f} | {bm['dx']:+.3f}, {bm['dy']:+.3f}, {bm['sx']:.3f}, {bm['sy']:.3f} | "
                  f"{r['helen/testset']['nme_landmark_box']:.2f} / {r['helen/testset']['nme_detector_box']:.2f} | "
                  f"{r['afw']['nme_landmark_box']:.2f} / {r['afw']['nme_detector_box']:.2f} |")
    md += ['', f"Default (`detect.DEFAULT_DETECTOR`): **{rec['default']}**, the higher helen/testset recall."]
    print(write('face_detectors', rec, 'Face detectors on our 300W photos', md, f"landmarks: `{rec['checkpoint']}`").read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
