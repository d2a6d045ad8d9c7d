"""Pilot for issues #16 and #20: how many steps does a preset's detector need before its validation NME flattens?

One run of the cpu preset with more steps and a learning-rate decay stretched to the same total decay
(0.97 every `decay_every` steps: the preset's 16 of 800 steps is x0.22 in all; 48 of 2400 is the same),
validation (helen/testset, the only split a pilot is scored on) every `eval_every` steps. The run folder is a
normal one (run.json with machine and wall time, log.csv, eval.csv, metrics.json); `train_run` also scores
the test split at the end, as every run does, but this pilot reads and reports only `eval.csv`.

    SAAT_DATA=../shared/data/300w python tools/pilot_steps.py --steps 2400 --decay-every 48 --baseline
    SAAT_DATA=../shared/data/300w python tools/pilot_steps.py --preset mdm_cpu --schedule one_cycle --steps 2500 --baseline

Runs go to outputs/<preset>/pilot_converge/<name>/. A pilot is scored on helen/testset only: the test-split results
that `train_run` writes at the end of every run (`results_test.npz`, the `test` entry of metrics.json) are deleted
unread, and the tool says so.
"""
from __future__ import annotations
import argparse, json, os, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def flat_from(steps, nme, tol: float = 0.1):
    "The first reading from which every later reading stays within `tol` NME points of the best of them -> step."
    for i in range(len(nme)):
        if max(nme[i:]) - min(nme[i:]) <= tol: return int(steps[i])
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', default='cpu', help="the preset the pilot starts from (cpu, mdm_cpu)")
    ap.add_argument('--steps', type=int, default=2400)
    ap.add_argument('--decay-every', type=int, default=48)
    ap.add_argument('--eval-every', type=int, default=200)
    ap.add_argument('--width', type=int, default=None, help="the detector's width (default: the cpu preset's)")
    ap.add_argument('--schedule', default='step', choices=['step', 'one_cycle'])
    ap.add_argument('--lr', type=float, default=None, help="peak detector lr (default: the cpu preset's); A and D scale with it")
    ap.add_argument('--bs', type=int, default=None, help="batch size (default: the cpu preset's)")
    ap.add_argument('--patch', type=int, default=None, help="MDM: patch side, px (default: the preset's)")
    ap.add_argument('--hidden', type=int, default=None, help="MDM: the RNN's memory (default: the preset's)")
    ap.add_argument('--baseline', action='store_true')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--data', default=None)
    a = ap.parse_args(argv)
    import torch
    from saat_nb.core import get_preset
    from saat_nb.runs import eval_curve, read_run_json
    from saat_nb.train import train_run
    base = get_preset(a.preset)
    over = dict(steps=a.steps, decay_every=a.decay_every, eval_every=a.eval_every, schedule=a.schedule)
    if a.width: over['width'] = a.width
    if a.patch: over['patch'] = a.patch
    if a.hidden: over['hidden'] = a.hidden
    if a.bs: over['bs'] = a.bs
    if a.lr: over.update(lr_det=a.lr, lr_att=a.lr * base.lr_att / base.lr_det, lr_dis=a.lr * base.lr_dis / base.lr_det)
    p = get_preset(a.preset, **over)
    name = (f"{'baseline' if a.baseline else 'saat'}_{a.steps}steps" + (f"_w{a.width}" if a.width else '')
            + (f"_patch{a.patch}" if a.patch else '') + (f"_h{a.hidden}" if a.hidden else '')
            + (f"_bs{a.bs}" if a.bs else '') + ('_onecycle' if a.schedule == 'one_cycle' else '')
            + (f"_lr{a.lr:g}" if a.lr else '') + f"_s{a.seed}")
    out = REPO / 'outputs' / p.name / 'pilot_converge' / name
    load0 = os.getloadavg()
    train_run(p, a.data, out, saat=not a.baseline, seed=a.seed, progress=False)
    for f in sorted(out.glob('results_*test*.npz')): f.unlink(); print(f"pilot: deleted {f.name} unread (pilots read helen/testset only)")
    m = json.loads((out / 'metrics.json').read_text())
    (out / 'metrics.json').write_text(json.dumps({k: v for k, v in m.items() if 'test' not in k}, indent=1))
    st, nm = eval_curve(out)
    info = read_run_json(out / 'run.json')
    res = {'command': 'SAAT_DATA=../shared/data/300w python tools/pilot_steps.py ' + ' '.join(sys.argv[1:] if argv is None else argv),
           'run': name, 'steps': a.steps, 'decay_every': a.decay_every, 'schedule': a.schedule, 'lr_det': p.lr_det, 'bs': p.bs, 'detector': p.detector,
           **({'patch': p.patch, 'hidden': p.hidden} if p.detector == 'mdm' else {'width': p.width}), 'threads': torch.get_num_threads(),
           'load_before': load0, 'load_after': os.getloadavg(), 'wall_s': info.get('wall_s'), 'machine': info.get('machine'),
           'valid_steps': st.tolist(), 'valid_nme': nm.tolist(), 'best_valid_nme': float(nm.min()),
           'flat_within_0.1_from_step': flat_from(st, nm)}
    (out.parent / f'{name}.json').write_text(json.dumps(res, indent=1) + '\n')
    print(json.dumps({k: v for k, v in res.items() if k != 'machine'}, indent=1))


if __name__ == '__main__': main()
