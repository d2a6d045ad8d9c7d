"""Where a training step's time goes: wall time per phase of one cpu-preset step (fixed in-memory batch, bf16+CL as
the preset runs it), for the baseline and both SAAT orders -> outputs/benchmarks/train_step_profile.md (+ .json).

    python tools/profile_train_step.py [--threads 1] [--steps 10]

Each arm runs in a fresh process. Phases are the SAAT callback's methods and the Learner's own parts, timed by
wrapping them (nested phases are included in their parents: `SAAT before_batch` contains the attacker step, the D
step, the two attacker forwards and β; the Learner's `one batch` contains the forwards, the losses and the backward).
"""
from __future__ import annotations
import argparse, collections, json, os, statistics, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = {'baseline': dict(saat=False), 'SAAT, paper order': dict(saat=True, order='paper'),
        'SAAT, shared order': dict(saat=True, order='shared')}
PHASES = [  # (owner, attribute, label)
    ('SAATCallback', 'before_batch', 'SAAT before_batch (attacker + D steps, I_adv, β)'),
    ('SAATCallback', 'attacker_step', '  attacker step (D fwd, L_T, backward through detector, D and A; paper order)'),
    ('SAATCallback', 'make_adv', '  attacker forwards (I_adv)'),
    ('SAATCallback', 'discriminator_step', '  discriminator step'),
    ('AdvBatch', 'weigh', '  SSIM and β'),
    ('Learner', '_do_one_batch', 'Learner one batch (forwards, losses, backward, step)'),
    ('SAATCallback', 'after_pred', '  detector forward on I_adv'),
    ('DetectorLoss', '__call__', '  L (eq. 1)'),
    ('SAATCallback', 'after_loss', '  L̃ (eq. 8) [shared order: + attacker step]'),
    ('Learner', '_backward', '  backward (L + L̃)'),
    ('Learner', '_step', '  detector optimizer step'),
]


def worker(arm: str, threads: int, steps: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    sys.path.insert(0, str(REPO / 'tools'))
    from bench_train_step import fixed_loaders, arm_kwargs, step_timer
    from fastai.learner import Learner
    from saat_nb.core import get_preset
    import saat_nb.learner as T
    from saat_nb.train import fit_steps
    acc = collections.defaultdict(float)
    from saat_nb.attack import AdvBatch
    owners = {'SAATCallback': T.SAATCallback, 'Learner': Learner, 'DetectorLoss': T.DetectorLoss, 'AdvBatch': AdvBatch}
    def wrap(obj, name, label):
        f = getattr(obj, name)
        def g(*a, **k):
            t0 = time.perf_counter(); r = f(*a, **k); acc[label] += time.perf_counter() - t0; return r
        setattr(obj, name, g)
    for owner, attr, label in PHASES: wrap(owners[owner], attr, label)
    p = get_preset('cpu', steps=steps, eval_every=steps)
    learn = T.make_learner(fixed_loaders(p), p, seed=0, **arm_kwargs(arm))
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
    timer = step_timer()
    acc.clear()
    with learn.no_logging(): fit_steps(learn, cbs=[timer])
    n = len(timer.times)
    return {'arm': arm, 'step_median_s': statistics.median(timer.times), 'step_mean_s': sum(timer.times) / n,
            'phases_s': {lab: acc[lab] / n for _, _, lab in PHASES if acc.get(lab)}, 'amp': learn.amp.why}


def loss_worker(threads: int) -> dict:
    "Seconds per call (forward + backward, median) of the cpu preset's weighted heatmap MSE: composed ops vs `heatmap_mse`."
    import torch
    torch.set_num_threads(threads)
    from saat_nb.core import get_preset
    from saat_nb.losses import heatmap_mse
    p = get_preset('cpu')
    g = torch.Generator().manual_seed(0)
    t = torch.rand(p.bs, 68, p.size, p.size, generator=g)
    def composed(q):                     # the formula as the code of 1869832 computed it
        err = (q.float() - t) ** 2
        return (err * (1 + p.fg_weight * t)).flatten(1).mean(1).mean()
    fused = lambda q: heatmap_mse(q, t, p.fg_weight)
    out = {}
    for lay, fmt in (('NCHW', torch.contiguous_format), ('NHWC', torch.channels_last)):
        for dt in (torch.float32, torch.bfloat16):
            q0 = torch.rand(p.bs, 68, p.size, p.size, generator=g).to(dt).contiguous(memory_format=fmt)
            for name, f in (('composed', composed), ('heatmap_mse', fused)):
                ts = []
                for _ in range(12):
                    q = q0.detach().requires_grad_()
                    t0 = time.perf_counter(); f(q).backward(); ts.append(time.perf_counter() - t0)
                out[f'{lay} {str(dt).split(".")[-1]} | {name}'] = statistics.median(ts[2:])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'train_step_profile.md'))
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker == 'loss':
        print('RESULT ' + json.dumps(loss_worker(a.threads))); return
    if a.worker:
        print('RESULT ' + json.dumps(worker(a.worker, a.threads, a.steps))); return
    t0, load0, res = time.time(), os.getloadavg(), []
    for arm in [*ARMS, 'loss']:
        r = subprocess.run([sys.executable, __file__, '--threads', str(a.threads), '--steps', str(a.steps), '--worker', arm],
                           capture_output=True, text=True, cwd=REPO, env={**os.environ, 'OMP_NUM_THREADS': str(a.threads)})
        line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
        if r.returncode or not line: sys.exit(f"worker {arm} failed:\n{r.stderr[-3000:]}")
        res.append(json.loads(line[-1][7:])); print(res[-1], flush=True)
    loss = res.pop()
    sys.path.insert(0, str(REPO))
    from saat_nb.core import machine_info
    load = os.getloadavg()
    labels = [lab for _, _, lab in PHASES]
    lines = ['# Where a training step\'s time goes (cpu preset, bf16+CL)', '',
             f"{time.strftime('%Y-%m-%d %H:%M')} · `python tools/profile_train_step.py --threads {a.threads} --steps {a.steps}` · "
             f"{time.time() - t0:.0f} s in all", '',
             f"Machine: {machine_info()}; torch threads: {a.threads}; load average (1/5/15 min) at the start "
             f"{'/'.join(f'{x:.1f}' for x in load0)}, at the end {'/'.join(f'{x:.1f}' for x in load)}. Plan: {res[0]['amp']}.", '',
             'Mean seconds per step over all steps of the run (the first includes warm-up), per phase; indented phases are '
             'inside the phase above them. A fixed in-memory batch (no loading). The Learner\'s phases (one batch, L) also '
             'count the one validation batch at the end of the run, spread over the steps, so they can exceed the step.', '',
             '| phase | ' + ' | '.join(r['arm'] for r in res) + ' |', '|---|' + '---|' * len(res)]
    for lab in labels:
        if not any(lab in r['phases_s'] for r in res): continue
        lines.append(f"| {lab} | " + ' | '.join(f"{r['phases_s'][lab]:.3f}" if lab in r['phases_s'] else '' for r in res) + ' |')
    lines.append('| **whole step (mean)** | ' + ' | '.join(f"**{r['step_mean_s']:.3f}**" for r in res) + ' |')
    lines.append('| whole step (median) | ' + ' | '.join(f"{r['step_median_s']:.3f}" for r in res) + ' |')
    base = res[0]['step_median_s']
    lines += ['', 'SAAT step ÷ baseline step (medians): ' + ', '.join(f"{r['arm']} {r['step_median_s'] / base:.2f}×" for r in res[1:]) + '.']
    lines += ['', '## The heatmap loss alone', '', f"One forward + backward of the cpu preset's weighted heatmap MSE on a batch "
              "(16 × 68 × 64 × 64), median of 10 calls, s: the composed tensor ops of 1869832 against `losses.heatmap_mse` "
              "(the fused `_WeightedMSE`). A step evaluates it three times in SAAT (L, L̃, L_F) and once in the baseline.", '',
              '| predictions | composed | heatmap_mse | speed-up |', '|---|---|---|---|']
    for k in sorted({k.split(' | ')[0] for k in loss}):
        c, f = loss[k + ' | composed'], loss[k + ' | heatmap_mse']
        lines.append(f"| {k} | {c:.4f} | {f:.4f} | {c / f:.2f}× |")
    Path(a.out).write_text('\n'.join(lines) + '\n')
    Path(a.out).with_suffix('.json').write_text(json.dumps({
        'command': f"python tools/profile_train_step.py --threads {a.threads} --steps {a.steps}", 'date': time.strftime('%Y-%m-%d %H:%M'),
        'machine': machine_info(), 'threads': a.threads, 'load_start': load0, 'load_end': load, 'arms': res,
        'loss_s': loss,
        'ratios': {**{f"{r['arm']} | x baseline (median step)": r['step_median_s'] / base for r in res[1:]},
                   **{f"loss {k.split(' | ')[0]} | fused speed-up": loss[k] / loss[k.replace('composed', 'heatmap_mse')]
                      for k in loss if k.endswith('composed')}}}, indent=1) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
