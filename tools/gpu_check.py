"""Paper-preset training steps on a GPU with AMP and channels_last -> outputs/benchmarks/gpu.md and gpu.json.

    python tools/gpu_check.py [--steps 6] [--out outputs/benchmarks/gpu.md]      (tools/gpu_check.sh runs it on a lent GPU)

For each arm (baseline, SAAT in the paper's order, SAAT in the shared order): the `paper` preset's networks
(256 px, HG*1 width 256, batch 8, attacker ngf 64, D ndf 64) built by `train.make_learner`, a fixed synthetic
batch on the GPU, 2 warm-up steps and `--steps` timed steps (CUDA-synchronised wall time), steps/s, peak GPU
memory, and a check that no loss, parameter or buffer is non-finite. It also runs on a CPU (slowly), which is
how the script is tested without a GPU.
"""
from __future__ import annotations
import argparse, json, math, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'tools'))
from bench_train_step import fixed_loaders, arm_kwargs, step_timer   # the same synthetic batch and step timer as the CPU benchmark
ARMS = {'baseline': dict(saat=False), 'SAAT, paper order': dict(saat=True, order='paper'), 'SAAT, shared order': dict(saat=True, order='shared')}


def run_arm(arm: str, steps: int, warm: int, bs: int | None) -> dict:
    import torch
    from saat_nb.core import get_preset, default_device
    from saat_nb.learner import make_learner
    from saat_nb.train import fit_steps
    dev = default_device()
    p = get_preset('paper', steps=warm + steps, eval_every=warm + steps, num_workers=0, **({'bs': bs} if bs else {}))
    learn = make_learner(fixed_loaders(p, dev), p, seed=0, **arm_kwargs(arm))
    learn.remove_cbs([c for c in learn.cbs if type(c).__name__ == 'ProgressCallback'])
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    tm = step_timer(cuda=dev.type == 'cuda')
    with learn.no_logging(): fit_steps(learn, cbs=[tm])
    nets = [learn.model] + ([learn.saat.attacker, learn.saat.discriminator] if ARMS[arm]['saat'] else [])
    finite = all(math.isfinite(v) for v in tm.losses) and all(torch.isfinite(t).all() for m in nets for t in m.state_dict().values() if t.is_floating_point())
    stats = getattr(getattr(learn, 'saat', None), 'stats', {})
    s = sorted(tm.times[warm:])[len(tm.times[warm:]) // 2]
    return {'arm': arm, 'device': torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu', 'amp': learn.amp.why,
            'bs': p.bs, 'size': p.size, 'width': p.width, 's_per_step': s, 'steps_per_s': 1 / s, 'timed_steps': len(tm.times[warm:]),
            'peak_gpu_mb': torch.cuda.max_memory_allocated() / 2**20 if dev.type == 'cuda' else None, 'finite': bool(finite),
            'skipped': stats.get('skipped'), 'losses': tm.losses}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=6); ap.add_argument('--warm', type=int, default=2)
    ap.add_argument('--bs', type=int, default=None, help='batch size (default: the preset\'s 8)')
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'gpu.md'))
    a = ap.parse_args()
    import torch
    from saat_nb.core import machine_info
    t0, rows = time.time(), []
    for arm in ARMS:
        rows.append(run_arm(arm, a.steps, a.warm, a.bs)); print({k: v for k, v in rows[-1].items() if k != 'losses'}, flush=True)
    base = rows[0]['s_per_step']
    cmd = f"python tools/gpu_check.py --steps {a.steps} --warm {a.warm}" + (f" --bs {a.bs}" if a.bs else '')
    lines = ['# Paper preset on a GPU: AMP + channels_last training steps', '',
             f"{time.strftime('%Y-%m-%d')} · `{cmd}` · {time.time() - t0:.0f} s in all · machine: {machine_info()}", '',
             f"Precision plan: {rows[0]['amp']}. Fixed synthetic batch on the device; median of {a.steps} timed steps after {a.warm} warm-up.", '',
             '| arm | device | batch | s/step | steps/s | × baseline | peak GPU memory (MB) | all finite |', '|---|---|---|---|---|---|---|---|']
    for r in rows:
        mem = f"{r['peak_gpu_mb']:.0f}" if r['peak_gpu_mb'] is not None else '-'
        lines.append(f"| {r['arm']} | {r['device']} | {r['bs']} | {r['s_per_step']:.4f} | {r['steps_per_s']:.2f} | {r['s_per_step'] / base:.2f} | {mem} | {r['finite']} |")
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n'.join(lines) + '\n')
    out.with_suffix('.json').write_text(json.dumps({'command': cmd, 'machine': machine_info(), 'rows': rows,
                                                    'ratios': {f"{r['arm']} x baseline": r['s_per_step'] / base for r in rows}}, indent=1) + '\n')
    print('\n'.join(lines))
    if not all(r['finite'] for r in rows): sys.exit('non-finite values: see the table')


if __name__ == '__main__':
    main()
