"""Training-loader throughput against the training step's consumption, old (per-item PIL) vs new (batched) augmentation.

    SAAT_DATA=../shared/data/300w .venv/bin/python tools/bench_loader.py [--threads 2] [--out outputs/benchmarks/loader.md]

For each size (the cpu preset, 64 px, batch 16; the paper preset, 256 px, batch 8) the script
1. caps helen/trainset at `batches x bs` faces and decodes them once into the dataset's cache (timed);
2. times every loader over that cache: today's per-item PIL path (`LandmarkDataset.reference_item` + `AddHeatmaps`,
   the loader before the batched augmentation) and the batched one (`item(i, heatmaps=False)` + `AugmentBatch`), each
   with 0 and 2 worker processes: a warm-up pass, then `--passes` timed passes (fresh augmentations every pass; a pass
   with workers includes starting them, as every training segment does); images/s = median pass;
3. times the training step in the same process (`make_learner`, baseline detector, the preset's amp/channels_last, on
   `tools/bench_train_step.fixed_batch`: no data loading): images/s = batch / median step;
4. writes the ratio loader images/s / step images/s per loader (the goal is >= 5), profiles of the batched loader
   (torch.profiler, top operators, at both sizes; cProfile at the cpu preset), the load averages before and after, the machine and the threads,
   to `--out` (markdown) and the same numbers to the `.json` beside it.
The machine may be shared with other jobs (see the load averages): treat absolute numbers as indicative.
"""
from __future__ import annotations
import argparse, io, json, os, statistics, sys, time
from pathlib import Path
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / 'tools')]
from saat_nb.core import get_preset, machine_info, data_root                                    # noqa: E402
from saat_nb.data import EpochDL, AddHeatmaps, AugmentBatch, face_dataset, warp_batch, region_side  # noqa: E402

SIZES = {  # label -> (preset, timed batches per pass, warm-up steps, timed steps)
    'cpu preset': ('cpu', 48, 3, 8),
    '256 px': ('paper', 16, 1, 2),
}
WORKERS = (0, 2)


class ReferenceDL(EpochDL):
    "The loader as it was before the batched augmentation: per-item PIL augmentation, heatmaps per batch."
    def create_item(self, s): return self.dataset.reference_item(s, heatmaps=False)


def make_loader(ds, kind: str, workers: int):
    p = ds.preset
    cls, tfm = (ReferenceDL, AddHeatmaps(p.size, p.sigma)) if kind == 'per-item PIL' else (EpochDL, AugmentBatch(p.size, p.sigma))
    dl = cls(ds, bs=p.bs, shuffle=True, drop_last=True, num_workers=workers, device='cpu', after_batch=tfm)
    dl.rng.seed(0)
    return dl


def time_loader(dl, passes: int) -> dict:
    "Seconds per pass (warm-up pass first), images per pass."
    n = sum(len(b[0]) for b in dl)                                  # warm-up (and checks a batch is complete)
    ts = []
    for _ in range(passes):
        t = time.perf_counter()
        for b in dl: pass
        ts.append(time.perf_counter() - t)
    return {'images': n, 'pass_s': ts, 'img_s': n / statistics.median(ts), 'img_s_best': n / min(ts)}


def time_step(p, warm: int, reps: int) -> dict:
    "Baseline training step on a fixed in-memory batch (bench_train_step's), at the preset's amp/channels_last."
    from saat_nb.learner import make_learner
    from saat_nb.train import fit_steps
    from bench_train_step import fixed_loaders, step_timer
    q = get_preset(p, steps=warm + reps, eval_every=warm + reps, num_workers=0)
    learn = make_learner(fixed_loaders(q), q, seed=0, saat=False)
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
    timer = step_timer()
    with learn.no_logging(): fit_steps(learn, cbs=[timer])
    s = statistics.median(timer.times[warm:])
    return {'s_per_step': s, 'img_s': q.bs / s, 'steps_timed': reps, 'amp': learn.amp.why, 'channels_last': q.channels_last}


def profile_pass(dl, top: int = 12) -> str:
    "torch.profiler over one pass of `dl` (0 workers): the top operators by self CPU time, as a text table."
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for b in dl: pass
    return prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=top)


def python_profile(dl, top: int = 12) -> str:
    "cProfile over one pass of `dl` (0 workers): the top functions by cumulative time."
    import cProfile, pstats
    pr = cProfile.Profile(); pr.enable()
    for b in dl: pass
    pr.disable()
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats('tottime').print_stats(top)
    return '\n'.join(l for l in s.getvalue().splitlines() if l.strip())[-4000:]


def warp_kornia_vs_torch(ds, reps: int = 5) -> dict | None:
    "The warp alone on one batch: our `warp_batch` (grid_sample) vs kornia's `warp_affine`."
    try: import kornia
    except ImportError: return None
    p = ds.preset
    b = [torch.stack(t) for t in zip(*(ds.item(i, heatmaps=False) for i in range(p.bs)))]
    canvas, M = b[0], b[2]
    def ours(): return warp_batch(canvas, M, p.size)
    def theirs():
        return kornia.geometry.transform.warp_affine(canvas.permute(0, 3, 1, 2).float(), M[:, :2].float(), (p.size, p.size),
                                                     align_corners=True)
    out = {}
    for k, f in (('warp_batch', ours), ('kornia warp_affine', theirs)):
        f(); ts = []
        for _ in range(reps): t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
        out[k] = statistics.median(ts)
    out['max |difference|, levels'] = float((ours() - theirs()).abs().max())
    out['kornia'] = kornia.__version__
    return out


def heatmap_alloc(p, reps: int = 5) -> dict:
    "One batch of targets: `render_heatmaps` (a fresh tensor per batch, as the loader does) vs the same product written into a reused buffer."
    from saat_nb.data import render_heatmaps
    q = torch.rand(p.bs, 68, 2) * p.size
    r = torch.arange(p.size, dtype=torch.float32)
    prof = lambda c: torch.exp(-(r - c[..., None]) ** 2 / (2 * p.sigma ** 2))
    py, px, buf = prof(q[..., 1])[..., :, None], prof(q[..., 0])[..., None, :], torch.empty(p.bs, 68, p.size, p.size)
    out = {}
    for k, f in (('render_heatmaps (fresh tensor)', lambda: render_heatmaps(q, p.size, p.sigma)),
                 ('outer product into a reused buffer', lambda: torch.mul(py, px, out=buf))):
        f(); ts = []
        for _ in range(reps): t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
        out[k] = statistics.median(ts)
    out['MB per batch'] = buf.numel() * 4 / 2**20
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None)
    ap.add_argument('--threads', type=int, default=2, help='torch threads of the main process (training uses 2)')
    ap.add_argument('--passes', type=int, default=3)
    ap.add_argument('--sizes', nargs='+', default=list(SIZES), choices=list(SIZES))
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'loader.md'))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    root, t0, load0 = data_root(a.data), time.time(), os.getloadavg()
    cmd = ' '.join(['python tools/bench_loader.py', *(argv if argv is not None else sys.argv[1:])])
    rows, steps, ratios, decode, prof, warp, hms = [], {}, {}, {}, {}, {}, {}
    for size in a.sizes:
        name, batches, warm, reps = SIZES[size]
        p = get_preset(name, num_workers=0)
        ds = face_dataset(root, p, 'train', n=p.bs * batches)
        t = time.perf_counter(); ds.preload(); decode[size] = (time.perf_counter() - t) / len(ds)
        for kind in ('per-item PIL', 'batched'):
            for w in WORKERS:
                r = time_loader(make_loader(ds, kind, w), a.passes)
                rows.append({'size': size, 'loader': kind, 'workers': w, **r}); print(rows[-1], flush=True)
        steps[size] = time_step(name, warm, reps); print(size, steps[size], flush=True)
        for r in (r for r in rows if r['size'] == size):
            r['ratio'] = r['img_s'] / steps[size]['img_s']
            ratios[f"{size} | {r['loader']} | {r['workers']} workers"] = r['ratio']
        prof[size] = profile_pass(make_loader(ds, 'batched', 0))
        if size == 'cpu preset': prof[size + ' (python)'] = python_profile(make_loader(ds, 'batched', 0))
        warp[size] = warp_kornia_vs_torch(ds)
        hms[size] = heatmap_alloc(p)
    presets = {size: get_preset(SIZES[size][0]) for size in a.sizes}
    load1 = os.getloadavg()
    m = machine_info()
    la = lambda l: ' / '.join(f'{v:.2f}' for v in l)
    md = ['# Training loader against the training step', '',
          f"{time.strftime('%Y-%m-%d %H:%M')} · `{cmd}` · {time.time() - t0:.0f} s in all", '',
          f'Machine: {m}; torch threads of the main process: {a.threads} (worker processes: 1 each, torch\'s default). '
          f'Load average (1 / 5 / 15 min) before: {la(load0)}, after: {la(load1)}.', '',
          'helen/trainset capped at `batches x bs` faces, decoded once into the dataset cache (not timed in the loaders); '
          'every pass draws fresh augmentations (rotation, scale, shift, flip, colour jitter, occlusion) and renders the '
          '68 heatmaps per batch. Loader images/s: median of the timed passes after a warm-up pass (a pass with workers '
          'includes starting them, as each training segment does). Step images/s: batch / median step of a baseline '
          '`make_learner` (the fastest consumer: a SAAT step costs about 3.4x more, outputs/benchmarks/train_step.md) on a '
          'fixed in-memory batch at the preset\'s amp / channels_last. **ratio = loader images/s / step images/s** (goal >= 5).', '']
    md += ['| input | batch | loader | workers | images/s | best pass images/s | ratio to the step |', '|---|---|---|---|---|---|---|']
    for r in rows:
        q = presets[r['size']]
        md.append(f"| {q.size} px ({r['size']}) | {q.bs} | {r['loader']} | {r['workers']} | {r['img_s']:.0f} | "
                  f"{r['img_s_best']:.0f} | {r['ratio']:.1f} |")
    md += ['', '| input | step (s) | step images/s | precision | decode + region per face (s, once) | canvas side (px) |',
           '|---|---|---|---|---|---|']
    for size, s in steps.items():
        q = presets[size]
        md.append(f"| {q.size} px ({size}) | {s['s_per_step']:.3f} | {s['img_s']:.1f} | {s['amp']}{', channels_last' if s['channels_last'] else ''} | "
                  f"{decode[size]:.3f} | {region_side(q)} |")
    for size in a.sizes:
        best = max((r for r in rows if r['size'] == size), key=lambda r: r['ratio'])
        verdict = 'goal met' if best['ratio'] >= 5 else 'goal NOT met'
        md.append(f"\n{size}: fastest loader {best['loader']}, {best['workers']} workers, {best['ratio']:.1f}x the step's "
                  f"consumption ({verdict}).")
    if any(warp.values()):
        md += ['', 'The warp alone on one batch (median of 5 calls, s): our `warp_batch` (`grid_sample`) against kornia\'s `warp_affine` '
               '(same bilinear warp, align_corners=True):', '', '| input | ' + ' | '.join(k for k in next(v for v in warp.values() if v)) + ' |',
               '|---|' + '---|' * len(next(v for v in warp.values() if v))]
        for size, v in warp.items():
            if v: md.append(f"| {size} | " + ' | '.join(f'{x:.4f}' if isinstance(x, float) else str(x) for x in v.values()) + ' |')
    md += ['', 'One batch of heatmap targets (median of 5 calls, s): as the loader makes them (a fresh tensor each batch) '
           'and the same product written into a reused buffer (the difference is the fresh allocation\'s page faults):', '',
           '| input | ' + ' | '.join(next(iter(hms.values()))) + ' |', '|---|' + '---|' * len(next(iter(hms.values())))]
    for size, v in hms.items(): md.append(f"| {size} | " + ' | '.join(f'{x:.4f}' if k != 'MB per batch' else f'{x:.0f}' for k, x in v.items()) + ' |')
    for k, v in prof.items():
        md += ['', f'Profile of one pass of the batched loader, {k}, 0 workers ({"torch.profiler, top operators by self CPU time" if "python" not in k else "cProfile, top functions by own time"}):',
               '', '```', v.strip(), '```']
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n'.join(md) + '\n')
    out.with_suffix('.json').write_text(json.dumps({
        'command': cmd, 'date': time.strftime('%Y-%m-%d %H:%M'), 'machine': m, 'threads': a.threads,
        'load_before': load0, 'load_after': load1, 'ratios': ratios,
        'loaders': [{k: v for k, v in r.items()} for r in rows], 'steps': steps, 'decode_s_per_face': decode,
        'warp': warp, 'heatmaps': hms}, indent=1) + '\n')
    print('\n'.join(md))


if __name__ == '__main__':
    main()
