"""Cost of one SAAT training step against one baseline step on the same batch: the code as it was when issue #14 was
filed (`--today`, commit 1869832: fp32, composed losses), and today's code in fp32 and in bf16 autocast + channels_last
(`Preset.amp`, `Preset.channels_last`), side by side; then whole cpu-preset runs on real faces (loader included),
today's code against the code of 1869832 -> outputs/benchmarks/train_step.md and train_step.json.

    python tools/bench_train_step.py [--threads 1] [--out outputs/benchmarks/train_step.md] [--sizes ...] [--no-whole-run]

The old code is `git archive`d into a temporary folder and put first on PYTHONPATH of its worker processes (each
worker reports which `saat_nb` it imported).

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
TODAY = '1869832'    # the commit issue #14 measured ("today's code": fp32, one thread per run, composed losses)
CODES = {'1869832 (fp32)': (TODAY, 'fp32'), 'now fp32': (None, 'fp32'), 'now bf16+CL': (None, 'bf16+CL')}
WHOLE = dict(n_train=160, warm=10, timed=20)   # whole-run rate: steps 11..30 (the first pass decodes the faces)


def old_code(tmp: Path) -> Path:
    "The package as of commit TODAY, extracted under `tmp` (a folder to put first on PYTHONPATH)."
    dst = tmp / f'saat_nb_{TODAY}'
    if not (dst / 'saat_nb').is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        arch = subprocess.run(['git', 'archive', TODAY, 'saat_nb'], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(['tar', '-x', '-C', str(dst)], input=arch, check=True)
    return dst


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
        n_points = 68                      # K, which today's `make_detector` reads off the training loader
        def set_epoch(self, e): pass
        def __len__(self): return p.bs
        def __getitem__(self, i): return x[i], hm[i], pts[i]
    return FixedBatch()


def fixed_loaders(p, device='cpu'):
    """DataLoaders over `fixed_batch(p)`: the training loader as the package under test wants it (a `data.StepDL`
    for today's code, whose `make_learner` takes the loaders as they come; a plain loader for 1869832's, which
    re-indexed it by step itself)."""
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    import saat_nb.data as D
    ds = fixed_batch(p)
    train = D.StepDL(ds, bs=p.bs, seed=0) if hasattr(D, 'StepDL') else DataLoader(ds, bs=p.bs, drop_last=True)
    return DataLoaders(train, DataLoader(ds, bs=p.bs), device=device)


def arm_kwargs(arm: str) -> dict:
    "`make_learner` keywords of an arm, spelt as the package under test spells them (`update_order`, once `order`)."
    import inspect
    from saat_nb.learner import make_learner
    kw = dict(ARMS[arm])
    if 'order' in kw and 'update_order' in inspect.signature(make_learner).parameters: kw['update_order'] = kw.pop('order')
    return kw


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
            if self.training: self._sync(); self.times.append(time.perf_counter() - self.t0); self.losses.append(float(self.learn.loss.detach()))
    return StepTimer()


def worker(size: str, arm: str, prec: str, threads: int) -> dict:
    "One configuration, in this process: seconds per step (median of the timed steps) and peak RSS."
    import torch
    torch.set_num_threads(threads)
    from saat_nb.core import get_preset
    from saat_nb.learner import make_learner
    from saat_nb.train import fit_steps

    name, over, warm, reps, _ = SIZES[size]
    old = 'amp' not in get_preset(name).to_dict()                      # the code of TODAY has no precision switches
    over = {k: v for k, v in {**over, **PRECISIONS[prec]}.items() if not (old and k in ('amp', 'channels_last'))}
    p = get_preset(name, **over, steps=warm + reps, eval_every=warm + reps)
    if arm == 'components': return {'size': size, 'arm': arm, 'prec': prec, 'parts': components(p, max(1, reps // 2))}

    learn = make_learner(fixed_loaders(p), p, seed=0, **arm_kwargs(arm))
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
    timer = step_timer()
    with learn.no_logging(): fit_steps(learn, cbs=[timer])
    import saat_nb
    return {'size': size, 'arm': arm, 'prec': prec, 'amp': getattr(getattr(learn, 'amp', None), 'why', 'fp32 (no amp switch)'),
            'package': saat_nb.__file__, 's_per_step': statistics.median(timer.times[warm:]),
            'steps_timed': reps, 'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            'preset': dict(size=p.size, width=p.width, bs=p.bs, ngf=p.ngf, ndf=p.ndf)}


def whole_worker(arm: str, cfg: str, threads: int, data: str) -> dict:
    "A short cpu-preset run on real faces (the preset's loader and workers): training steps per second over steps 11..30."
    import torch
    torch.set_num_threads(threads)
    from fastai.callback.core import Callback
    from saat_nb.core import get_preset
    from saat_nb.data import face_dataloaders
    from saat_nb.learner import make_learner
    from saat_nb.train import fit_steps
    import saat_nb
    n = WHOLE['warm'] + WHOLE['timed']
    old = 'amp' not in get_preset('cpu').to_dict()
    over = dict(n_train=WHOLE['n_train'], n_valid=16, steps=n, eval_every=n)
    if not old: over.update(PRECISIONS[CODES[cfg][1]])
    p = get_preset('cpu', **over)
    learn = make_learner(face_dataloaders(data, p, seed=0), p, seed=0, **arm_kwargs(arm))
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])

    class Stamps(Callback):
        order = 100
        def __init__(self): self.t = []
        def after_batch(self):
            if self.training: self.t.append(time.perf_counter())
    st = Stamps()
    with learn.no_logging(): fit_steps(learn, cbs=[st])
    w = WHOLE['warm']
    return {'arm': arm, 'cfg': cfg, 'threads': threads, 'steps_per_s': WHOLE['timed'] / (st.t[n - 1] - st.t[w - 1]),
            'num_workers': p.num_workers, 'package': saat_nb.__file__}


def _run(args: list, env: dict, what: str, script: str = __file__) -> dict:
    "Run `script` (a benchmark tool) with `args` in a fresh process -> the dict its `RESULT ` line prints; exits when it fails."
    r = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, cwd=REPO, env={**os.environ, **env})
    line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
    if r.returncode or not line: sys.exit(f"worker {what} failed:\n{r.stderr[-3000:]}")
    out = json.loads(line[-1][7:]); print(out, flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=1, help='torch threads per step-table run (1 is steadier on a shared machine)')
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'train_step.md'))
    ap.add_argument('--worker', nargs=3, metavar=('SIZE', 'ARM', 'CFG'), help=argparse.SUPPRESS)
    ap.add_argument('--whole-worker', nargs=3, metavar=('ARM', 'CFG', 'DATA'), help=argparse.SUPPRESS)
    ap.add_argument('--sizes', nargs='+', default=list(SIZES), choices=list(SIZES))
    ap.add_argument('--data', default=os.environ.get('SAAT_DATA', str(REPO.parent / 'shared' / 'data' / '300w')))
    ap.add_argument('--no-whole-run', action='store_true', help='skip the whole-run comparison on real faces')
    ap.add_argument('--whole-rounds', type=int, default=2)
    a = ap.parse_args()
    if a.worker:
        size, arm, cfg = a.worker
        print('RESULT ' + json.dumps({**worker(size, arm, CODES[cfg][1] if cfg in CODES else cfg, a.threads), 'cfg': cfg})); return
    if a.whole_worker:
        print('RESULT ' + json.dumps(whole_worker(a.whole_worker[0], a.whole_worker[1], a.threads, a.whole_worker[2]))); return
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix='bench_train_step_'))
    env_of = lambda cfg, th: {'OMP_NUM_THREADS': str(th), **({'PYTHONPATH': str(old_code(tmp))} if CODES[cfg][0] else {})}
    t0, runs, load0 = time.time(), [], os.getloadavg()
    sizes = {k: SIZES[k] for k in a.sizes}
    for size, (*_, rounds) in sizes.items():
        for _ in range(rounds):                       # interleaved: every configuration once per round
            for arm in [*ARMS, 'components']:
              for cfg in (CODES if arm != 'components' else ['now fp32']):
                runs.append(_run(['--threads', str(a.threads), '--worker', size, arm, cfg], env_of(cfg, a.threads), f'{size} / {arm} / {cfg}'))
    whole = []
    WCFG = [('1869832 (fp32)', 1), ('now bf16+CL', 1), ('now bf16+CL', 2)]
    if not a.no_whole_run:
        for _ in range(a.whole_rounds):
            for arm in ('baseline', 'SAAT, paper order'):
                for cfg, th in WCFG:
                    whole.append(_run(['--threads', str(th), '--whole-worker', arm, cfg, a.data], env_of(cfg, th), f'whole {arm} / {cfg} / {th}'))
    res = []   # fastest round per (size, arm, cfg); parts: fastest per part
    for size in sizes:
        for arm in ARMS:
          for cfg in CODES:
            rs = [r for r in runs if r['size'] == size and r['arm'] == arm and r['cfg'] == cfg]
            res.append({**min(rs, key=lambda r: r['s_per_step']), 'maxrss_mb': max(r['maxrss_mb'] for r in rs)})
        parts = [r['parts'] for r in runs if r['size'] == size and r['arm'] == 'components']
        res.append({'size': size, 'arm': 'components', 'parts': {k: min(q[k] for q in parts) for k in parts[0]}})
    sys.path.insert(0, str(REPO))
    from saat_nb.core import machine_info
    load = os.getloadavg()
    old_pkgs = sorted({r['package'] for r in runs + whole if r.get('cfg', '').startswith(TODAY)})
    lines = ['# Training step: SAAT against the baseline, today\'s code against the code of issue #14', '',
             f"{time.strftime('%Y-%m-%d')} · `python tools/bench_train_step.py --threads {a.threads}"
             f"{' --sizes ' + ' '.join(sizes) if list(sizes) != list(SIZES) else ''}` · {time.time() - t0:.0f} s in all", '',
             f"Machine: {machine_info()}; torch threads per step-table run: {a.threads}. Load average (1/5/15 min) at the start: "
             f"{'/'.join(f'{x:.1f}' for x in load0)}, at the end: {'/'.join(f'{x:.1f}' for x in load)}. The machine is shared, so "
             "absolute times are indicative; every configuration runs once per round, interleaved, and the fastest round counts.", '',
             f"Code: `{TODAY}` is the package as it was when issue #14 was filed (fp32 only, composed heatmap losses, "
             f"the adversarial batch passed through `learn.yb`), `git archive`d and imported from {', '.join(f'`{q}`' for q in old_pkgs) or '(not run)'}; "
             "`now` is this checkout (fused fp32 heatmap loss that reads bf16 predictions, `AdvBatch`), in fp32 and with "
             "`Preset.amp` + `Preset.channels_last` (bf16+CL: bf16 autocast of every network's forward, losses in fp32, NHWC weights; "
             f"plan here: {next((r['amp'] for r in runs if r.get('cfg') == 'now bf16+CL' and r.get('amp')), '?')}).", '',
             '## One training step on a fixed in-memory batch (no data loading)', '',
             'Median over the timed steps after a warm-up; peak memory = `ru_maxrss` of a fresh process per row (includes '
             'Python + torch, about 0.3 GB).', '',
             f'| input | width | batch | attacker ngf / D ndf | arm | code | s/step | × baseline (same code) | steps/s × {TODAY} | peak RSS (MB) |',
             '|---|---|---|---|---|---|---|---|---|---|']
    ratios = {}
    for size in sizes:
        for cfg in CODES:
            base = next(r for r in res if r['size'] == size and r['arm'] == 'baseline' and r.get('cfg') == cfg)['s_per_step']
            for r in (r for r in res if r['size'] == size and r['arm'] != 'components' and r.get('cfg') == cfg):
                q = r['preset']
                old = next(x for x in res if x['size'] == size and x['arm'] == r['arm'] and x.get('cfg') == '1869832 (fp32)')['s_per_step']
                ratios[f"{size} | {r['arm']} | {cfg} | x baseline"] = r['s_per_step'] / base
                ratios[f"{size} | {r['arm']} | {cfg} | speed-up vs {TODAY}"] = old / r['s_per_step']
                lines.append(f"| {q['size']} px ({size}) | {q['width']} | {q['bs']} | {q['ngf']} / {q['ndf']} | {r['arm']} | {cfg} | "
                             f"{r['s_per_step']:.3f} | {r['s_per_step'] / base:.2f} | {old / r['s_per_step']:.2f} | {r['maxrss_mb']:.0f} |")
    lines += ['', 'Rounds: ' + ', '.join(f"{k}: {v[4]} × ({v[2]} warm-up + {v[3]} timed steps)" for k, v in sizes.items()) + '.']
    goals = {'SAAT, paper order': 2.5, 'SAAT, shared order': 2.2}
    got = lambda arm: ', '.join(f"{size} {ratios[size + ' | ' + arm + ' | now bf16+CL | x baseline']:.2f}×" for size in sizes)
    lines += ['', '**Goals** (a SAAT step against a baseline step, same code, now bf16+CL): '
              + '; '.join(f"{arm} ≤ {g}×: {got(arm)}" for arm, g in goals.items()) + '.']
    lines += ['', 'Parts (one forward, or forward+backward, of each network on the same batch, fp32, min of a few calls, s):', '',
              '| input | ' + ' | '.join(next(r for r in res if r['arm'] == 'components')['parts']) + ' |',
              '|---|' + '---|' * len(next(r for r in res if r['arm'] == 'components')['parts'])]
    for r in (r for r in res if r['arm'] == 'components'):
        lines.append(f"| {r['size']} | " + ' | '.join(f'{v:.3f}' for v in r['parts'].values()) + ' |')
    for r in (r for r in res if r['arm'] == 'components'):
        q = r['parts']
        base = next(x for x in res if x['size'] == r['size'] and x['arm'] == 'baseline' and x.get('cfg') == 'now fp32')['s_per_step']
        det = 2 * q['detector fwd+bwd'] + q['detector fwd+input-bwd'] - q['detector fwd']
        ad = q['attacker fwd+bwd'] + q['discriminator fwd+bwd'] + 2 * q['discriminator fwd']
        ratios[f"{r['size']} | floor of a paper-order SAAT step | x detector fwd+bwd"] = (det + ad) / q['detector fwd+bwd']
        lines.append(f"\n{r['size']}: floor of a paper-order SAAT step = detector part (2 fwd+bwd + one backward to the input) {det:.3f} s "
                     f"= {det / q['detector fwd+bwd']:.2f}× a detector fwd+bwd, plus attacker fwd+bwd and D (fwd+bwd + 2 fwd) "
                     f"{ad:.3f} s; in all {det + ad:.3f} s = {(det + ad) / q['detector fwd+bwd']:.2f}× a detector fwd+bwd "
                     f"({(det + ad) / base:.2f}× the measured now-fp32 baseline step).")
    if whole:
        lines += ['', '## Whole cpu-preset runs on real faces (loader, logging and callbacks included)', '',
                  f"`make_learner` + `fit_steps` on `face_dataloaders` of helen/trainset (first {WHOLE['n_train']} faces, so "
                  f"the first {WHOLE['warm']} steps decode every face once and the rate is taken over steps "
                  f"{WHOLE['warm'] + 1}..{WHOLE['warm'] + WHOLE['timed']}), each preset's own loader and workers, "
                  f"{a.whole_rounds} interleaved rounds, fastest counts. `{TODAY}` ran its runs on one thread each (its "
                  "`--jobs` default was two runs side by side); today's default is one run at a time on 2 threads.", '',
                  '| arm | code | threads | loader workers | steps/s | × 1869832 |', '|---|---|---|---|---|---|']
        for arm in ('baseline', 'SAAT, paper order'):
            best = {(c, t): max((w for w in whole if w['arm'] == arm and w['cfg'] == c and w['threads'] == t), key=lambda w: w['steps_per_s'])
                    for c, t in WCFG}
            ref = best[WCFG[0]]['steps_per_s']
            for (c, t), w in best.items():
                ratios[f"whole run | {arm} | {c} | {t} threads | steps/s x {TODAY}"] = w['steps_per_s'] / ref
                lines.append(f"| {arm} | {c} | {t} | {w['num_workers']} | {w['steps_per_s']:.3f} | {w['steps_per_s'] / ref:.2f} |")
        g = ratios.get(f"whole run | SAAT, paper order | now bf16+CL | 2 threads | steps/s x {TODAY}")
        g1 = ratios[f"whole run | SAAT, paper order | now bf16+CL | 1 threads | steps/s x {TODAY}"]
        lines += ['', f"**Goal** (a whole cpu-preset SAAT run ≥ 3× the steps per second of {TODAY}): {g:.2f}× at today's default (2 threads); "
                  f"{g1:.2f}× on the same one thread."]
    lines += ['', "- 'paper' order: attacker step (frozen detector forward on I_adv + backward to the input), D step, the "
              "updated attacker remakes I_adv, then the detector's step on L + L̃ (two detector forwards and their backward).",
              "- 'shared' order: I_adv made once; the detector's one forward on it serves L_F (input gradient into the "
              "attacker) and L̃. It differs from the paper in that the detector and D see the attacker's example from "
              "before this step's attacker update (see nbs/06_learner.ipynb, \"Update order\").",
              "- The floor for a SAAT step is about 2.3× (two detector forward+backward passes plus a backward to the "
              "input) *plus* the attacker's and D's own cost; at 256 px the pix2pix attacker (ngf 64, 8 levels) is "
              "itself a large network, so its share is counted in these ratios."]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    Path(a.out).with_suffix('.json').write_text(json.dumps({
        'command': f"python tools/bench_train_step.py --threads {a.threads} --sizes {' '.join(sizes)}", 'date': time.strftime('%Y-%m-%d %H:%M'),
        'machine': machine_info(), 'threads': a.threads, 'load_start': load0, 'load_end': load, 'today_commit': TODAY,
        'ratios': ratios, 'rows': res, 'whole_runs': whole}, indent=1) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
