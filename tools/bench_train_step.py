"""Cost of one SAAT training step against one baseline step on the same batch, in fp32 (today's configuration) and in
bf16 autocast + channels_last (`Preset.amp`, `Preset.channels_last`) side by side
-> outputs/benchmarks/train_step.md and train_step.json.

    python tools/bench_train_step.py [--threads 1] [--out outputs/benchmarks/train_step.md]

Each (size, arm) runs in a fresh subprocess, so `ru_maxrss` is that configuration's peak memory; the arms are
interleaved over a few rounds and the fastest round counts (the 2-core machine is shared, and other jobs slow
single runs by several times). The batch is a
fixed synthetic one (random pixels, heatmaps rendered from random landmarks) served from memory, so data loading
is not in the numbers: this measures the training step only (fastai Learner + callbacks, as `train_run` runs it).
The whole benchmark takes a few minutes on 2 cores.
"""
from __future__ import annotations
import argparse, json, os, resource, statistics, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = {  # label -> (preset, overrides, warm-up steps, timed steps, rounds)
    'cpu preset': ('cpu', {}, 2, 4, 3),
    '256 px': ('paper', dict(amp=False, channels_last=False, num_workers=0), 0, 1, 1),   # no warm-up: ~1 min per SAAT step
}
ARMS = {'baseline': dict(saat=False), 'SAAT, paper order': dict(saat=True, order='paper'),
        'SAAT, shared order': dict(saat=True, order='shared')}
PRECISIONS = {'fp32': dict(amp=False, channels_last=False), 'bf16+CL': dict(amp=True, channels_last=True)}


def components(p, reps: int) -> dict:
    "Seconds per call of each network's forward+backward on one batch (min over `reps`): the parts of a step."
    import torch
    from saat_nb.hourglass import HourglassNet
    from saat_nb.attacker import Attacker, Discriminator
    x, S = torch.rand(p.bs, 3, p.size, p.size), torch.rand(p.bs, 1, p.size, p.size)
    nets = {'detector': (HourglassNet(p.stacks, p.width, p.size), lambda m: m(x)[-1]),
            'attacker': (Attacker(p.size, p.ngf, p.kernel), lambda m: m(x, S)),
            'discriminator': (Discriminator(p.size, p.ndf), lambda m: m(x, S))}
    xl = x.clone().requires_grad_()
    def input_grad(m): torch.autograd.grad(m(xl)[-1].square().mean(), xl)   # backward to the input only (L_F's path)
    out = {}
    for k, (m, f) in nets.items():
        runs = (('fwd', lambda: f(m)), ('fwd+bwd', lambda: f(m).square().mean().backward()))
        if k == 'detector': runs += (('fwd+input-bwd', lambda: input_grad(m)),)
        for what, run in runs:
            ts = []
            for _ in range(reps + 1):
                t0 = time.perf_counter(); run(); ts.append(time.perf_counter() - t0)
            out[f'{k} {what}'] = min(ts[1:])
    return out


def fixed_batch(p):
    "A dataset of `p.bs` synthetic faces (random pixels, heatmaps of random landmarks), the same every step."
    import torch
    from saat_nb.data import render_heatmaps
    g = torch.Generator().manual_seed(0)
    x = torch.rand(p.bs, 3, p.size, p.size, generator=g)
    pts = (0.25 + 0.5 * torch.rand(p.bs, 68, 2, generator=g)) * p.size
    hm = torch.stack([torch.from_numpy(render_heatmaps(q.numpy(), p.size, p.sigma)) for q in pts])

    class FixedBatch(torch.utils.data.Dataset):
        def set_epoch(self, e): pass
        def __len__(self): return p.bs
        def __getitem__(self, i): return x[i], hm[i], pts[i]
    return FixedBatch()


def step_timer(cuda: bool = False):
    "A callback timing each training step (`.times`, s; CUDA-synchronised when `cuda`) and keeping its loss (`.losses`)."
    import torch
    from fastai.callback.core import Callback

    class StepTimer(Callback):
        order = -100
        def __init__(self): self.times, self.losses = [], []
        def _sync(self):
            if cuda: torch.cuda.synchronize()
        def before_batch(self):
            if self.training: self._sync(); self.t0 = time.perf_counter()
        def after_batch(self):
            if self.training: self._sync(); self.times.append(time.perf_counter() - self.t0); self.losses.append(float(self.learn.loss))
    return StepTimer()


def worker(size: str, arm: str, prec: str, threads: int) -> dict:
    "One configuration, in this process: seconds per step (median of the timed steps) and peak RSS."
    import torch
    torch.set_num_threads(threads)
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from saat_nb.core import get_preset
    from saat_nb.train import make_learner, fit_steps

    name, over, warm, reps, _ = SIZES[size]
    p = get_preset(name, **{**over, **PRECISIONS[prec]}, steps=warm + reps, eval_every=warm + reps)
    if arm == 'components': return {'size': size, 'arm': arm, 'prec': prec, 'parts': components(p, max(1, reps // 2))}

    ds = fixed_batch(p)
    dls = DataLoaders(DataLoader(ds, bs=p.bs, drop_last=True), DataLoader(ds, bs=p.bs), device='cpu')
    learn = make_learner(dls, p, seed=0, **ARMS[arm])
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
    timer = step_timer()
    with learn.no_logging(): fit_steps(learn, cbs=[timer])
    return {'size': size, 'arm': arm, 'prec': prec, 'amp': learn.amp.why, 's_per_step': statistics.median(timer.times[warm:]),
            'steps_timed': reps, 'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            'preset': dict(size=p.size, width=p.width, bs=p.bs, ngf=p.ngf, ndf=p.ndf)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=1, help='torch threads per run (1 is steadier on a shared machine)')
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'train_step.md'))
    ap.add_argument('--worker', nargs=3, metavar=('SIZE', 'ARM', 'PREC'), help=argparse.SUPPRESS)
    ap.add_argument('--sizes', nargs='+', default=list(SIZES), choices=list(SIZES))
    a = ap.parse_args()
    if a.worker:
        print('RESULT ' + json.dumps(worker(*a.worker, a.threads))); return
    t0, runs, load0 = time.time(), [], os.getloadavg()[0]
    sizes = {k: SIZES[k] for k in a.sizes}
    for size, (*_, rounds) in sizes.items():
        for _ in range(rounds):                       # interleaved: every configuration once per round
            for arm in [*ARMS, 'components']:
              for prec in (PRECISIONS if arm != 'components' else ['fp32']):
                r = subprocess.run([sys.executable, __file__, '--threads', str(a.threads), '--worker', size, arm, prec],
                                   capture_output=True, text=True, cwd=REPO, env={**os.environ, 'OMP_NUM_THREADS': str(a.threads)})
                line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
                if r.returncode or not line: sys.exit(f"worker {size} / {arm} / {prec} failed:\n{r.stderr[-3000:]}")
                runs.append(json.loads(line[-1][7:])); print(runs[-1], flush=True)
    res = []   # fastest round per (size, arm); parts: fastest per part
    for size in sizes:
        for arm in ARMS:
          for prec in PRECISIONS:
            rs = [r for r in runs if r['size'] == size and r['arm'] == arm and r['prec'] == prec]
            res.append({**min(rs, key=lambda r: r['s_per_step']), 'maxrss_mb': max(r['maxrss_mb'] for r in rs)})
        parts = [r['parts'] for r in runs if r['size'] == size and r['arm'] == 'components']
        res.append({'size': size, 'arm': 'components', 'parts': {k: min(q[k] for q in parts) for k in parts[0]}})
    sys.path.insert(0, str(REPO))
    from saat_nb.core import machine_info
    load = os.getloadavg()[0]
    lines = ['# Training step: SAAT against the baseline', '',
             f"{time.strftime('%Y-%m-%d')} · `python tools/bench_train_step.py --threads {a.threads}` · {time.time() - t0:.0f} s in all", '',
             f"Machine: {machine_info()}; torch threads per run: {a.threads}. The machine is shared with other jobs "
             f"(load average at the start: {load0:.1f}, at the end: {load:.1f}), so absolute times are indicative and the "
             "ratios carry the noise of runs made seconds to minutes apart.", '',
             'One optimizer step of `train_run`\'s Learner on a fixed in-memory batch (no data loading): median over the '
             'timed steps after a warm-up, fastest of the rounds; peak memory = `ru_maxrss` of a fresh process per row (includes Python + torch, '
             'about 0.3 GB).', '',
             "Precision: `fp32` is today's configuration (the cpu preset as committed); `bf16+CL` is `Preset.amp` + "
             "`Preset.channels_last` (bf16 autocast of every network's forward, losses in fp32, NHWC weights; "
             f"plan on this machine: {next((r['amp'] for r in runs if r.get('prec') == 'bf16+CL' and r.get('amp')), '?')}).", '',
             '| input | width | batch | attacker ngf / D ndf | arm | precision | s/step | × baseline (same precision) | steps/s × fp32 | peak RSS (MB) |',
             '|---|---|---|---|---|---|---|---|---|---|']
    ratios = {}
    for size in sizes:
        for prec in PRECISIONS:
            base = next(r for r in res if r['size'] == size and r['arm'] == 'baseline' and r.get('prec') == prec)['s_per_step']
            for r in (r for r in res if r['size'] == size and r['arm'] != 'components' and r.get('prec') == prec):
                q = r['preset']
                fp32 = next(x for x in res if x['size'] == size and x['arm'] == r['arm'] and x.get('prec') == 'fp32')['s_per_step']
                ratios[f"{size} | {r['arm']} | {prec} | x baseline"] = r['s_per_step'] / base
                ratios[f"{size} | {r['arm']} | {prec} | speed-up vs fp32"] = fp32 / r['s_per_step']
                lines.append(f"| {q['size']} px ({size}) | {q['width']} | {q['bs']} | {q['ngf']} / {q['ndf']} | {r['arm']} | {prec} | "
                             f"{r['s_per_step']:.3f} | {r['s_per_step'] / base:.2f} | {fp32 / r['s_per_step']:.2f} | {r['maxrss_mb']:.0f} |")
    lines += ['', 'Rounds: ' + ', '.join(f"{k}: {v[4]} × ({v[2]} warm-up + {v[3]} timed steps)" for k, v in sizes.items()) + '.']
    lines += ['', 'Parts (one forward, or forward+backward, of each network on the same batch, min of a few calls, s):', '',
              '| input | ' + ' | '.join(next(r for r in res if r['arm'] == 'components')['parts']) + ' |',
              '|---|' + '---|' * len(next(r for r in res if r['arm'] == 'components')['parts'])]
    for r in (r for r in res if r['arm'] == 'components'):
        lines.append(f"| {r['size']} | " + ' | '.join(f'{v:.3f}' for v in r['parts'].values()) + ' |')
    for r in (r for r in res if r['arm'] == 'components'):
        q, base = r['parts'], next(x for x in res if x['size'] == r['size'] and x['arm'] == 'baseline')['s_per_step']
        det = 2 * q['detector fwd+bwd'] + q['detector fwd+input-bwd'] - q['detector fwd']
        ad = q['attacker fwd+bwd'] + q['discriminator fwd+bwd'] + 2 * q['discriminator fwd']
        lines.append(f"\n{r['size']}: floor of a SAAT step = detector part (2 fwd+bwd + one backward to the input) {det:.3f} s "
                     f"= {det / q['detector fwd+bwd']:.2f}× a detector fwd+bwd, plus attacker fwd+bwd and D (fwd+bwd + 2 fwd) "
                     f"{ad:.3f} s; in all {det + ad:.3f} s = {(det + ad) / q['detector fwd+bwd']:.2f}× a detector fwd+bwd "
                     f"({(det + ad) / base:.2f}× the measured baseline step).")
    lines += ['', "- 'paper' order: attacker step (frozen detector forward on I_adv + backward to the input), D step, the "
              "updated attacker remakes I_adv, then the detector's step on L + L̃ (two detector forwards and their backward).",
              "- 'shared' order: I_adv made once; the detector's one forward on it serves L_F (input gradient into the "
              "attacker) and L̃. It differs from the paper in that the detector and D see the attacker's example from "
              "before this step's attacker update (see nbs/06_train.ipynb, \"Update order\").",
              "- The floor for a SAAT step is about 2.3× (two detector forward+backward passes plus a backward to the "
              "input) *plus* the attacker's and D's own cost; at 256 px the pix2pix attacker (ngf 64, 8 levels) is "
              "itself a large network, so its share is counted in these ratios."]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    Path(a.out).with_suffix('.json').write_text(json.dumps({
        'command': f"python tools/bench_train_step.py --threads {a.threads} --sizes {' '.join(sizes)}", 'date': time.strftime('%Y-%m-%d %H:%M'),
        'machine': machine_info(), 'threads': a.threads, 'load_start': load0, 'load_end': load, 'ratios': ratios,
        'rows': res}, indent=1) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
