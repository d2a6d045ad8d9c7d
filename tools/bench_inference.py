#!/usr/bin/env python
"""Inference speed on this CPU: HG*1 vs FAN(4) at 256 px (paired), the cpu-preset detector, bf16 peak, a profile.

    .venv/bin/python tools/bench_inference.py [--out outputs/benchmarks/inference.md] [--no-compile]

Writes `inference.md` and `inference.json` (the ratios by name) side by side. Random weights and inputs at 256 px
(no trained 256-px detector exists here); eval mode, `torch.inference_mode`. FAN(4)'s model class is loaded
straight from the installed `face_alignment/models/fan.py` (its package `__init__` needs OpenCV, which we do not
install); when face-alignment is missing the FAN rows are skipped. Treatments:

- `fp32`: the model as its code ships it (NCHW fp32, eager).
- `same`: the same generic treatment for both: every BatchNorm that directly follows a conv folded into it
  (HG*1: `hourglass.fold_batchnorm`; FAN: `torch.fx.experimental.optimization.fuse`), channels-last, bf16 weights
  and activations; `+compile`: that, then `torch.compile` (inductor, `freezing=True`).
- `best`: HG*1's own `hourglass.inference_copy(model, torch.bfloat16)` (the above plus the upsampler as matmuls).

Paired timing: in each round every model runs once, back to back, in a rotated order; a ratio is the median over
rounds of the per-round time ratio, so a busy machine slows both sides of a pair alike. img/s = batch / median time.
"""
from __future__ import annotations
import argparse, copy, datetime, importlib.util, json, os, resource, statistics, sys, time
from pathlib import Path
import numpy as np
import torch
from torch import nn
from saat_nb.core import machine_info, data_root, cpu_bf16_units
from saat_nb.hourglass import HourglassNet, count_params, count_flops, fold_batchnorm, inference_copy, decode_heatmaps

REPO = Path(__file__).resolve().parents[1]
DETECTOR = REPO / 'outputs' / 'cpu' / 'saat_s0' / 'detector.pth'


def load_fan(stacks: int = 4):
    "face_alignment's FAN(stacks) with random weights, or None when face-alignment is not installed."
    spec = importlib.util.find_spec('face_alignment')
    if spec is None or not spec.submodule_search_locations: return None
    path = Path(list(spec.submodule_search_locations)[0]) / 'models' / 'fan.py'
    if not path.exists(): return None
    s = importlib.util.spec_from_file_location('_fan_models', path)
    mod = importlib.util.module_from_spec(s); s.loader.exec_module(mod)
    return mod.FAN(stacks).eval()


class Cast(nn.Module):
    "Runs `net` on inputs cast to `dtype` and channels-last (what `hourglass.InferenceHourglass` does for HG)."
    def __init__(self, net, dtype):
        super().__init__(); self.net, self.dtype = net, dtype
    def forward(self, x): return self.net(x.to(self.dtype, memory_format=torch.channels_last))


def same_treatment(model: nn.Module, dtype=torch.bfloat16) -> nn.Module:
    "Generic: conv->BN pairs folded, channels-last, weights in `dtype`."
    if isinstance(model, HourglassNet): m = fold_batchnorm(model)
    else:
        from torch.fx.experimental.optimization import fuse
        m = fuse(copy.deepcopy(model).eval())
    return Cast(m.to(memory_format=torch.channels_last).to(dtype), dtype).eval()


def compiled(model: nn.Module, x: torch.Tensor):
    "(torch.compile'd model with the batch dimension dynamic, seconds its first call took) or (None, error text)."
    import torch._inductor.config as ic
    ic.freezing = True
    torch._dynamo.reset()
    try:
        c = torch.compile(model, dynamic=None)
        xx = x.clone(); torch._dynamo.mark_dynamic(xx, 0)
        t = time.perf_counter()
        with torch.inference_mode(): c(xx)
        return c, time.perf_counter() - t
    except Exception as e:                       # noqa: BLE001 -- reported in the table, never hidden
        return None, f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'


def matmul_peak(dtype, threads: int, n: int = 2048, reps: int = 5) -> float:
    "GFLOP/s of the best of `reps` (n x n) @ (n x n) products in `dtype` (2 n^3 FLOPs each)."
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b; best = float('inf')
    for _ in range(reps):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def paired_rounds(models: dict, x: torch.Tensor, rounds: int) -> dict:
    "{name: [seconds per round]}: each round runs every model once, back to back, in a rotated order (1 warm-up)."
    names, times = list(models), {n: [] for n in models}
    with torch.inference_mode():
        for n in names: models[n](x)
        for r in range(rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                t = time.perf_counter(); models[n](x); times[n].append(time.perf_counter() - t)
    return times


def ratio(times: dict, slow: str, fast: str) -> float:
    "Median over rounds of time(slow)/time(fast): how many times faster `fast` is."
    return statistics.median(s / f for s, f in zip(times[slow], times[fast]))


def stage_table(net: nn.Module, x: torch.Tensor, reps: int = 5) -> list[dict]:
    "Per stage of an `inference_copy`'d HG*1 (stacks=1): ms (median), GFLOP, GFLOP/s, minor page faults per call."
    from torch.utils.flop_counter import FlopCounterMode
    n = net.net
    xx = x.to(net.dtype, memory_format=torch.channels_last)
    stages = [('stem (to 64 px)', n.stem), ('hourglass', n.hgs[0]), ('head convs', n.feats[0]), ('heatmap 1x1', n.heads[0]),
              ('upsampler (to 256 px)', n.ups[0])]
    rows = []
    with torch.inference_mode():
        for name, m in stages:
            with FlopCounterMode(display=False) as fc: y = m(xx)
            m(xx); ts, faults = [], []
            for _ in range(reps):
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t = time.perf_counter(); m(xx); ts.append(time.perf_counter() - t)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
            ms = 1e3 * statistics.median(ts)
            rows.append(dict(stage=name, out=list(y.shape), ms=ms, gflop=fc.get_total_flops() / 1e9 / x.shape[0],
                             gflops=fc.get_total_flops() / 1e9 / (ms / 1e3), minor_faults=int(statistics.median(faults))))
            xx = y
    return rows


def top_ops(net: nn.Module, x: torch.Tensor, k: int = 12) -> tuple[list[dict], float]:
    "torch.profiler: the `k` ops with the most self CPU time over 3 forwards -> (rows per forward, total ms per forward)."
    from torch.profiler import profile, ProfilerActivity
    with torch.inference_mode():
        net(x)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            for _ in range(3): net(x)
    ev = sorted(p.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in ev) / 3 / 1e3
    return [dict(op=e.key, shapes=str(e.input_shapes)[:70], calls=e.count // 3, self_ms=e.self_cpu_time_total / 3 / 1e3,
                 share=e.self_cpu_time_total / 3 / 1e3 / total) for e in ev[:k]], total


def precision_check(n_faces: int, data=None) -> dict | None:
    "Points of the committed cpu-preset detector on real AFW faces: inference copies vs the model in fp32, in crop pixels."
    from saat_nb.predict import Predictor, read_image
    from saat_nb.data import find_faces, face_box, read_pts
    if not DETECTOR.is_file(): return None
    data = data or os.environ.get('SAAT_DATA') or REPO.parent / 'shared' / 'data' / '300w'
    try: faces = find_faces(data_root(data), 'afw')[:n_faces]
    except Exception as e: return dict(skipped=f'no data ({type(e).__name__}: {e})')  # noqa: BLE001
    p = Predictor.from_checkpoint(DETECTOR, fast=False)
    xs = torch.stack([p._prepare(read_image(f.image), face_box(read_pts(f.pts)))[0] for f in faces])
    with torch.inference_mode():
        ref = decode_heatmaps(p.model(xs)[-1])
        out = {}
        for name, dt in (('fp32', torch.float32), ('bf16', torch.bfloat16)):
            d = (decode_heatmaps(inference_copy(p.model, dt)(xs)[-1].float()) - ref).norm(dim=-1).flatten()
            out[name] = dict(max_px=float(d.max()), p99_px=float(d.quantile(.99)), median_px=float(d.median()),
                             within_0_5px=float((d <= .5).float().mean()))
    return dict(detector=str(DETECTOR.relative_to(REPO)), faces=len(faces), points=len(faces) * 68, crop_px=p.size, **out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='outputs/benchmarks/inference.md')
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    ap.add_argument('--rounds', type=int, default=5, help='paired rounds per (threads, batch); batch 1 gets 2 more')
    ap.add_argument('--no-compile', action='store_true', help='skip the torch.compile rows (their compiles take minutes)')
    ap.add_argument('--faces', type=int, default=120, help='AFW faces for the precision check')
    ap.add_argument('--data', default=None, help='300W root (default: $SAAT_DATA or ../shared/data/300w)')
    a = ap.parse_args(argv)
    t_start, load0 = time.time(), os.getloadavg()
    torch.manual_seed(0)
    out = dict(date=datetime.datetime.now().isoformat(timespec='seconds'),
               command=' '.join([os.path.relpath(sys.executable), *sys.argv]), machine=machine_info() | {'bf16_units': cpu_bf16_units()},
               load_before=list(load0), torch_threads_default=torch.get_num_threads(), rows=[], ratios={}, peak={}, compile_s={})

    hg = HourglassNet(1, 256, 256).eval()
    fan = load_fan(4)
    hg_flop = count_flops(hg, 256)
    fan_flop = count_flops(fan, 256) if fan is not None else None
    out['models'] = {'HG*1': dict(params_M=count_params(hg) / 1e6, gflop=hg_flop / 1e9)}
    if fan is not None: out['models']['FAN(4)'] = dict(params_M=count_params(fan) / 1e6, gflop=fan_flop / 1e9)
    eager = {'HG*1 fp32': hg, 'HG*1 same': same_treatment(hg), 'HG*1 best': inference_copy(hg, torch.bfloat16)}
    if fan is not None: eager |= {'FAN fp32': fan, 'FAN same': same_treatment(fan)}
    flop = {n: (hg_flop if n.startswith('HG') else fan_flop) for n in eager}

    for th in a.threads:
        torch.set_num_threads(th)
        out['peak'][th] = dict(fp32=matmul_peak(torch.float32, th), bf16=matmul_peak(torch.bfloat16, th))
        print(f'threads {th}: matmul 2048^2 peak fp32 {out["peak"][th]["fp32"]:.0f}, bf16 {out["peak"][th]["bf16"]:.0f} GFLOP/s', flush=True)
        models = dict(eager)
        if not a.no_compile:
            x1 = torch.rand(1, 3, 256, 256)
            for n, m in [('HG*1 same', eager['HG*1 same']), ('HG*1 best', eager['HG*1 best'])] + \
                        ([('FAN same', eager['FAN same'])] if fan is not None else []):
                c, info = compiled(m, x1)
                out['compile_s'][f'{n}+compile, threads {th}'] = info
                print(f'  compile {n}: {info if isinstance(info, str) else f"{info:.0f} s"}', flush=True)
                if c is not None: models[f'{n}+compile'] = c; flop[f'{n}+compile'] = flop[n]
        for b in a.batches:
            x = torch.rand(b, 3, 256, 256)
            times = paired_rounds(models, x, a.rounds + (2 if b == 1 else 0))
            for n, ts in times.items():
                ips = b / statistics.median(ts)
                gfs = flop[n] / 1e9 * ips
                dt = 'fp32' if n.endswith('fp32') else 'bf16'
                out['rows'].append(dict(model=n, size=256, threads=th, batch=b, img_s=ips, gflops=gfs,
                                        peak_frac=gfs / out['peak'][th][dt], peak_dtype=dt, rounds=len(ts)))
                print(f'  threads {th} batch {b} {n:22s} {ips:7.2f} img/s  {gfs:6.0f} GFLOP/s = {gfs / out["peak"][th][dt]:.0%} of {dt} peak', flush=True)
            key = f't{th}_b{b}'
            r = {}
            if fan is not None:
                r['hg1_vs_fan_fp32'] = ratio(times, 'FAN fp32', 'HG*1 fp32')
                r['hg1_vs_fan_same_treatment'] = ratio(times, 'FAN same', 'HG*1 same')
                r['hg1_best_vs_fan_same_treatment'] = ratio(times, 'FAN same', 'HG*1 best')
                r['hg1_best_vs_fan_shipped'] = ratio(times, 'FAN fp32', 'HG*1 best')
                if 'FAN same+compile' in times and 'HG*1 same+compile' in times:
                    r['hg1_vs_fan_same_treatment_compiled'] = ratio(times, 'FAN same+compile', 'HG*1 same+compile')
                if 'FAN same+compile' in times and 'HG*1 best+compile' in times:
                    r['hg1_best_vs_fan_same_treatment_compiled'] = ratio(times, 'FAN same+compile', 'HG*1 best+compile')
                if 'HG*1 best+compile' in times: r['hg1_best_compiled_vs_fan_shipped'] = ratio(times, 'FAN fp32', 'HG*1 best+compile')
            r['hg1_best_vs_hg1_fp32'] = ratio(times, 'HG*1 fp32', 'HG*1 best')
            r['hg1_best_vs_hg1_same'] = ratio(times, 'HG*1 same', 'HG*1 best')
            if 'HG*1 best+compile' in times: r['hg1_best_compiled_vs_hg1_best'] = ratio(times, 'HG*1 best', 'HG*1 best+compile')
            out['ratios'][key] = r
            print(f'  {key}: ' + ', '.join(f'{k} {v:.2f}x' for k, v in r.items()), flush=True)

    # what the HG*1 best path spends its time on (eager, 1 thread, batch 1)
    torch.set_num_threads(1)
    x = torch.rand(1, 3, 256, 256)
    out['stages'] = stage_table(eager['HG*1 best'], x)
    out['top_ops'], out['profile_total_ms'] = top_ops(eager['HG*1 best'], x)

    # the cpu-preset detector (what Predictor runs on the committed weights): fp32 model, exact copy, bf16 copy
    from saat_nb.predict import load_detector
    if DETECTOR.is_file():
        det = load_detector(DETECTOR)[0].eval()
        s = det.size
        small = {'model fp32': det, 'inference_copy fp32 (Predictor default)': inference_copy(det),
                 'inference_copy bf16 (Predictor amp=True)': inference_copy(det, torch.bfloat16)}
        out['cpu_preset'] = dict(detector=str(DETECTOR.relative_to(REPO)), arch=det.arch, gflop=count_flops(det, s) / 1e9, rows=[])
        for th in a.threads:
            torch.set_num_threads(th)
            for b in a.batches:
                times = paired_rounds(small, torch.rand(b, 3, s, s), 2 * a.rounds + 1)
                base = times['model fp32']
                for n, ts in times.items():
                    out['cpu_preset']['rows'].append(dict(model=n, threads=th, batch=b, img_s=b / statistics.median(ts),
                                                          vs_model=statistics.median(p / q for p, q in zip(base, ts))))
    torch.set_num_threads(out['torch_threads_default'])
    out['precision'] = precision_check(a.faces, a.data)
    out['elapsed_s'], out['load_after'] = time.time() - t_start, list(os.getloadavg())
    write(out, Path(a.out))


def write(o: dict, md: Path):
    "inference.md (tables) and inference.json (everything, the ratios by name) beside it."
    md.parent.mkdir(parents=True, exist_ok=True)
    md.with_suffix('.json').write_text(json.dumps(o, indent=1) + '\n')
    P = o['peak']; L = []
    L += ['# Inference speed on CPU', '',
          f"- date: {o['date']}; total benchmark time {o['elapsed_s']:.0f} s",
          f"- command: `{o['command']}` (from the repo root); everything below is in `{md.with_suffix('.json').name}`",
          f"- machine: {o['machine']}",
          f"- load averages (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in o['load_before'])}; after: "
          f"{', '.join(f'{v:.2f}' for v in o['load_after'])}. The machine is **shared**; compare the paired ratios, not img/s across rows.",
          f"- threads: `torch.set_num_threads` per row (below); default here {o['torch_threads_default']}",
          '- matmul peak (2048², best of 5), GFLOP/s: ' + '; '.join(f"{th} thread(s): fp32 {p['fp32']:.0f}, bf16 {p['bf16']:.0f}" for th, p in P.items()),
          f"- FLOPs per image (FlopCounterMode, 1 multiply-add = 2 FLOPs): " + ', '.join(f"{n} {m['gflop']:.1f} GFLOP ({m['params_M']:.2f} M params)" for n, m in o['models'].items()),
          '- treatments: `fp32` = as the code ships it; `same` = conv->BN folded, channels-last, bf16 (both models); '
          '`best` = `hourglass.inference_copy(model, torch.bfloat16)` (also the upsampler as matmuls); `+compile` = then '
          '`torch.compile` (inductor, freezing). Random weights, 256 px.', '']
    if o['compile_s']:
        L += ['torch.compile, first call (s): ' + '; '.join(f"{k}: {v:.0f}" if not isinstance(v, str) else f"{k}: failed ({v})" for k, v in o['compile_s'].items()), '']
    L += ['## Goal ratios (paired, median of rounds; > 1 means HG*1 is faster)', '',
          '| ratio | ' + ' | '.join(f'threads {k[1:].split("_")[0]} batch {k.split("_b")[1]}' for k in o['ratios']) + ' |',
          '|---|' + '---|' * len(o['ratios'])]
    names = list(dict.fromkeys(n for r in o['ratios'].values() for n in r))
    L += [f'| `{n}` | ' + ' | '.join(f"{r[n]:.2f}x" if n in r else '-' for r in o['ratios'].values()) + ' |' for n in names]
    L += ['', 'Goals: `hg1_vs_fan_same_treatment` >= 2 (same generic treatment); `hg1_best_vs_fan_shipped` >= 5 (FAN as face-alignment ships it, fp32).', '',
          '## img/s and fraction of peak (256 px)', '', '| model | threads | batch | img/s | GFLOP/s | of peak |', '|---|---|---|---|---|---|']
    L += [f"| {r['model']} | {r['threads']} | {r['batch']} | {r['img_s']:.2f} | {r['gflops']:.0f} | {r['peak_frac']:.0%} of {r['peak_dtype']} |" for r in o['rows']]
    L += ['', '## Where HG*1 best (eager bf16, 1 thread, batch 1) spends its time', '',
          '| stage | output | ms | GFLOP | GFLOP/s | of bf16 peak | minor page faults |', '|---|---|---|---|---|---|---|']
    p1 = P[1]['bf16'] if 1 in P else next(iter(P.values()))['bf16']
    L += [f"| {r['stage']} | {tuple(r['out'][1:])} | {r['ms']:.1f} | {r['gflop']:.2f} | {r['gflops']:.0f} | {r['gflops'] / p1:.0%} | {r['minor_faults']} |" for r in o['stages']]
    L += ['', f"torch.profiler, top ops by self CPU time per forward (total {o['profile_total_ms']:.0f} ms):", '',
          '| op | input shapes | calls | self ms | share |', '|---|---|---|---|---|']
    L += [f"| {r['op']} | `{r['shapes']}` | {r['calls']} | {r['self_ms']:.1f} | {r['share']:.0%} |" for r in o['top_ops']]
    if o.get('cpu_preset'):
        c = o['cpu_preset']
        L += ['', f"## The cpu-preset detector ({c['detector']}, {c['arch']['size']} px, width {c['arch']['width']}, {c['gflop']:.2f} GFLOP/img)", '',
              '| path | threads | batch | img/s | x model fp32 (paired) |', '|---|---|---|---|---|']
        L += [f"| {r['model']} | {r['threads']} | {r['batch']} | {r['img_s']:.1f} | {r['vs_model']:.2f}x |" for r in c['rows']]
    pr = o.get('precision')
    if pr and 'skipped' not in pr:
        L += ['', f"## Points vs the model in fp32 ({pr['detector']}, {pr['faces']} AFW faces, {pr['points']} points, {pr['crop_px']}-px crop pixels)", '',
              '| path | max px | 99th pct px | median px | within 0.5 px |', '|---|---|---|---|---|']
        L += [f"| inference_copy {k} | {pr[k]['max_px']:.2f} | {pr[k]['p99_px']:.2f} | {pr[k]['median_px']:.2f} | {pr[k]['within_0_5px']:.1%} |" for k in ('fp32', 'bf16')]
    elif pr: L += ['', f"Precision check skipped: {pr['skipped']}"]
    md.write_text('\n'.join(L) + '\n')
    print(f"wrote {md} and {md.with_suffix('.json').name} in {o['elapsed_s']:.0f} s")


if __name__ == '__main__': main()
