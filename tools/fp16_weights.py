"""Diagnostic: what storing a detector's weight matrices in fp16 (`checkpoint.HALF_KINDS`: MDM) does to its NME.

For each run folder holding both `final.pth` (the training checkpoint, fp32, not committed) and `detector.pth` (the
exported weights, committed): helen/testset and AFW NME of each, and the largest per-face change. `train_run` scored
the fp32 weights; a clone re-evaluates the fp16 file (`saat-reproduce` within `NME_TOLERANCE` of the committed mean,
`tests/test_committed_results.py` face by face within `FP16_ATOL`). Writes a markdown table with its command.

    python tools/fp16_weights.py outputs/mdm_cpu/baseline_s0 outputs/mdm_cpu/saat_s0 --data ../shared/data/300w \
        --out outputs/mdm_cpu/diagnostics/fp16_weights.md
"""
import argparse, os, shlex, sys, time
from pathlib import Path
import numpy as np
import torch
from saat_nb.core import Preset, data_root, machine_info
from saat_nb.data import find_faces, LandmarkDataset
from saat_nb.metrics import evaluate_model
from saat_nb.checkpoint import load_detector, read_checkpoint

SPLITS = (('helen/testset', 'valid'), ('afw', 'test'))


def compare(run: Path, root: Path, n: int | None = None) -> dict:
    """`run`'s final.pth (fp32) against its detector.pth -> {'dtype', 'mb': (fp32 file, detector.pth),
    split label: (NME % fp32, NME % stored, largest per-face change in NME % points)}."""
    full, _ = load_detector(run / 'final.pth')
    stored, ck = load_detector(run / 'detector.pth')
    P = Preset.from_dict(ck['preset'])   # as trained
    n_fp32 = sum(v.numel() * 4 for v in full.state_dict().values() if v.is_floating_point())
    out = {'dtype': ck.get('dtype', 'float32'), 'mb': (n_fp32 / 1e6, (run / 'detector.pth').stat().st_size / 1e6)}
    for lab, sp in SPLITS:
        ds = LandmarkDataset(find_faces(root, lab)[:n], P)
        a, b = (evaluate_model(m, ds, split=sp, progress=False, bs=P.bs).nme for m in (full, stored))
        out[lab] = (100 * float(a.mean()), 100 * float(b.mean()), 100 * float(np.max(np.abs(a - b))))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('runs', nargs='+', help='run folders holding final.pth and detector.pth')
    ap.add_argument('--data', default=None, help='300W root (default: $SAAT_DATA)')
    ap.add_argument('--n', type=int, default=None, help='the first N faces of each split (default: all)')
    ap.add_argument('--out', default=None, help='markdown file to write')
    a = ap.parse_args(argv)
    runs = list(map(Path, a.runs))
    for run in runs:   # every run checked before any work
        miss = [f for f in ('final.pth', 'detector.pth') if not (run / f).is_file()]
        if miss: ap.error(f"{run}: no {' or '.join(miss)} (final.pth is the training checkpoint, kept only where the run trained)")
    root = data_root(a.data)
    rows = []
    for run in runs:
        r = compare(run, root, a.n)
        rows.append((run.name, r))
        print(f"{run.name}: " + '; '.join(f"{lab} {r[lab][0]:.3f}% fp32, {r[lab][1]:.3f}% stored, largest per-face "
                                          f"change {r[lab][2]:.4f}" for lab, _ in SPLITS))
    worst = max(r[lab][2] for _, r in rows for lab, _ in SPLITS)
    m = machine_info()
    md = ["# Weights stored in fp16: the NME of the committed detector.pth against the fp32 weights it came from", '',
          f"Command: `python tools/fp16_weights.py {' '.join(shlex.quote(x) for x in (argv or sys.argv[1:]))}`", '',
          f"Date: {time.strftime('%Y-%m-%d %H:%M')}. Machine: {m.get('cpu_model') or m.get('cpu')}, {m.get('cores')} cores, "
          f"{torch.get_num_threads()} thread(s), torch {m.get('torch')}, load {os.getloadavg()[0]:.1f}. NME % (inter-ocular), "
          f"evaluated in fp32 (the fp16 file is cast back to fp32 on loading). {a.n or 'All'} faces per split.", '',
          '| run | detector.pth dtype | MB in fp32 | MB stored | helen/testset fp32 | helen/testset stored | largest per-face change | afw fp32 | afw stored | largest per-face change |',
          '|---|---|---|---|---|---|---|---|---|---|',
          *[f"| {n} | {r['dtype']} | {r['mb'][0]:.1f} | {r['mb'][1]:.1f} | "
            + ' | '.join(f"{r[lab][0]:.3f} | {r[lab][1]:.3f} | {r[lab][2]:.4f}" for lab, _ in SPLITS) + ' |'
            for n, r in rows], '',
          f"Largest per-face change over all runs and faces: {worst:.4f} NME % points.", '']
    if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text('\n'.join(md))
    return 0


if __name__ == '__main__': sys.exit(main())
