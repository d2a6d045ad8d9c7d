"""Diagnostic: how much of a detector's NME comes from its BatchNorm running statistics?

For each run folder: helen/testset (validation) and AFW NME as trained, then after re-estimating every BatchNorm
layer's running mean/var on clean (augmented) helen/trainset faces; beside them, from the run's `log.csv`, the mean
SSIM(M·I, M·I_adv) and β (eq. 9) over the last quarter of its steps. A detector whose running statistics were pulled
off by unrealistic adversarial images during training (they pass through the detector in train mode even when their
loss weight β is 0) recovers; one trained on realistic images barely changes. Only BN buffers change; no weight is
trained, and nothing is chosen from these scores. Writes a markdown table with the command that produced it.

    python tools/bn_recalibration.py outputs/cpu/abl_noD_s0 outputs/cpu/saat_s0 --data ../shared/data/300w \
        --out outputs/cpu/diagnostics/bn_recalibration.md
"""
import argparse, csv, math, os, shlex, sys, time
from pathlib import Path
import torch
from saat_nb.core import Preset, data_root, machine_info, set_seed
from saat_nb.data import find_faces, LandmarkDataset
from saat_nb.metrics import evaluate_model
from saat_nb.checkpoint import load_detector
from saat_nb.runs import run_weights

SPLITS = (('helen/testset', 'valid'), ('afw', 'test'))

def recalibrate_bn(model, ds, bs: int = 16):
    "Reset every BatchNorm's running statistics and re-estimate them (cumulative average) over `ds` in train mode."
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm): m.reset_running_stats(); m.momentum = None
    model.train()
    with torch.no_grad():
        for x, _, _ in torch.utils.data.DataLoader(ds, batch_size=bs): model(x)
    return model.eval()

def log_tail(run: Path, cols=('ssim', 'beta'), frac: float = 0.25) -> dict:
    "Mean of `cols` of `run/log.csv` over its last `frac` of steps (NaN where the run logged none: a baseline)."
    f = run / 'log.csv'
    if not f.is_file(): return {c: math.nan for c in cols}
    rows = list(csv.DictReader(f.open()))
    tail = rows[int(len(rows) * (1 - frac)):]
    out = {}
    for c in cols:
        v = [float(r[c]) for r in tail if r.get(c) not in (None, '', 'nan')]
        v = [x for x in v if math.isfinite(x)]
        out[c] = sum(v) / len(v) if v else math.nan
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('runs', nargs='+', help='run folders holding detector.pth (or final.pth)')
    ap.add_argument('--data', default=None, help='300W root (default: $SAAT_DATA)')
    ap.add_argument('--n', type=int, default=320, help='clean training faces for the re-estimate')
    ap.add_argument('--out', default=None, help='markdown file to write')
    a = ap.parse_args(argv)
    runs = list(map(Path, a.runs))
    for run in runs:   # every run checked before any work
        if run_weights(run) is None:
            ap.error(f"{run}: no detector.pth or final.pth (is it a finished run folder?)")
    root, rows = data_root(a.data), []
    for run in runs:
        model, c = load_detector(run_weights(run))
        P = Preset.from_dict(c['preset'])   # as trained
        sets = {lab: LandmarkDataset(find_faces(root, lab), P) for lab, _ in SPLITS}
        score = lambda: {lab: 100 * float(evaluate_model(model, ds, split=sp, progress=False, bs=P.bs).nme.mean())
                         for (lab, sp), ds in zip(SPLITS, sets.values())}
        before = score()
        set_seed(0)
        recalibrate_bn(model, LandmarkDataset(find_faces(root, 'helen/trainset')[:a.n], P, train=True, seed=0), P.bs)
        after = score()
        rows.append((run.name, log_tail(run), before, after))
        print(f"{run.name}: " + '; '.join(f"{lab} {before[lab]:.2f}% as trained, {after[lab]:.2f}% re-estimated" for lab, _ in SPLITS))
    m = machine_info()
    f2 = lambda v: '-' if not math.isfinite(v) else f'{v:.2f}'
    md = ["# BatchNorm re-estimation: how much of a detector's NME comes from its BN running statistics", '',
          f"Command: `python tools/bn_recalibration.py {' '.join(shlex.quote(x) for x in (argv or sys.argv[1:]))}`", '',
          f"Date: {time.strftime('%Y-%m-%d %H:%M')}. Machine: {m.get('cpu_model') or m.get('cpu')}, {m.get('cores')} cores, "
          f"{torch.get_num_threads()} thread(s), torch {m.get('torch')}, load {os.getloadavg()[0]:.1f}. "
          f"Re-estimated on the first {a.n} helen/trainset faces, augmented as in training; NME % (inter-ocular). "
          "SSIM and β: means over the last 25% of the run's training steps (`log.csv`; '-': no attacker).", '',
          '| run | SSIM(M·I, M·I_adv) | β | helen/testset as trained | helen/testset BN re-estimated | afw as trained | afw BN re-estimated |',
          '|---|---|---|---|---|---|---|',
          *[f"| {r} | {f2(t['ssim'])} | {f2(t['beta'])} | {b['helen/testset']:.2f} | {c['helen/testset']:.2f} | {b['afw']:.2f} | {c['afw']:.2f} |"
            for r, t, b, c in rows], '',
          'Only the BatchNorm running mean/var change; no weight is trained. A large drop means the statistics, pulled off by '
          'the images the detector saw in train mode, carried much of the error; a detector trained on realistic images barely moves.', '']
    if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text('\n'.join(md))
    return 0

if __name__ == '__main__': sys.exit(main())
