"""A baseline + SAAT pair as one 2-thread process after the other, against two 1-thread processes side by side
-> outputs/benchmarks/threads.md and threads.json (which `--jobs` default is faster on this machine).

    python tools/bench_threads.py --data ../shared/data/300w [--steps 150] [--amp]

Each mode trains the cpu preset's baseline_s0 and saat_s0 for `--steps` steps into a temporary folder
(`python -m saat_nb.train`, evaluation included, as in a real run) and takes the wall time of the whole pair.
The modes run one after the other on the same machine, so compare their ratio rather than the absolute times.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(kind: str, out: Path, data: str, steps: int, threads: int, amp: bool) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'saat_nb.train', '--preset', 'cpu', '--data', data, '--steps', str(steps), '--seed', '0',
           '--out', str(out / kind)] + (['--baseline'] if kind == 'baseline' else []) + (['--amp', '--channels-last'] if amp else [])
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, 'OMP_NUM_THREADS': str(threads)})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', required=True); ap.add_argument('--steps', type=int, default=150)
    ap.add_argument('--amp', action='store_true', help='bf16 autocast + channels_last (Preset.amp, Preset.channels_last)')
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'threads.md'))
    a = ap.parse_args()
    load0, res = os.getloadavg()[0], {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()                                    # two runs at once, one thread each (--jobs 2)
        ps = [train(k, Path(tmp) / 'jobs2', a.data, a.steps, 1, a.amp) for k in ('baseline', 'saat')]
        if any(p.wait() for p in ps): sys.exit('a --jobs 2 run failed')
        res['2 runs side by side, 1 thread each (--jobs 2)'] = time.time() - t0
        t0 = time.time()                                    # one run after the other, two threads each (--jobs 1)
        for k in ('baseline', 'saat'):
            if train(k, Path(tmp) / 'jobs1', a.data, a.steps, 2, a.amp).wait(): sys.exit('a --jobs 1 run failed')
        res['1 run at a time, 2 threads (--jobs 1)'] = time.time() - t0
    sys.path.insert(0, str(REPO))
    from saat_nb.core import machine_info
    (j2, w2), (j1, w1) = res.items()
    best = j2 if w2 <= w1 else j1
    cmd = f"python tools/bench_threads.py --data {a.data} --steps {a.steps}" + (' --amp' if a.amp else '')
    lines = ['# Threads: one 2-thread run at a time, or two 1-thread runs side by side', '',
             f"{time.strftime('%Y-%m-%d')} · `{cmd}` · machine: {machine_info()} · load average at the start {load0:.1f}, "
             f"at the end {os.getloadavg()[0]:.1f}", '',
             f"The cpu preset's baseline_s0 + saat_s0 pair, {a.steps} steps each plus their evaluation on helen/testset and AFW"
             f"{', bf16 + channels_last' if a.amp else ', fp32'}: wall time of the whole pair.", '',
             '| mode | wall time of the pair (s) | × the faster |', '|---|---|---|',
             *[f"| {k} | {v:.0f} | {v / min(res.values()):.2f} |" for k, v in res.items()], '',
             f"Faster here: **{best}** (`saat-reproduce --jobs {'2' if best == j2 else '1'}`)."]
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True); out.write_text('\n'.join(lines) + '\n')
    out.with_suffix('.json').write_text(json.dumps({'command': cmd, 'machine': machine_info(), 'load_start': load0,
        'wall_s': res, 'ratios': {'jobs1 / jobs2': w1 / w2}, 'faster': best}, indent=1) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
