"""Why `core.device_amp` trains in fp32 on a CPU without bf16 units: one cpu-preset training step in fp32 against the
same step under bf16 autocast + channels_last forced on (as if the CPU listed `avx512_bf16`), baseline and SAAT (paper
order, as `train_run` trains), on this machine -> outputs/benchmarks/bf16_emulation.md and bf16_emulation.json.

    python tools/bench_bf16_emulation.py [--threads 1] [--rounds 2] [--out outputs/benchmarks/bf16_emulation.md]

Each configuration runs in a fresh subprocess through `bench_train_step.worker` (the same fixed in-memory batch, warm-up
and median), interleaved over `--rounds` rounds; the fastest round counts (the machine is shared). On a CPU that has
bf16 units the forced arm is simply the normal bf16 arm, so the table then says how much bf16 gains there.
It takes a few minutes where bf16 is emulated (a forced SAAT step there takes tens of seconds).
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))
ARMS = ('baseline', 'SAAT, paper order')
PRECS = ('fp32', 'bf16+CL')


def worker(arm: str, prec: str, threads: int) -> dict:
    "One configuration in this process; for bf16+CL the CPU is made to look bf16-capable to `core.device_amp`."
    import saat_nb.core as core
    if prec == 'bf16+CL': core.cpu_bf16_units = lambda: ['forced by tools/bench_bf16_emulation.py']
    import bench_train_step as b
    return b.worker('cpu preset', arm, prec, threads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'benchmarks' / 'bf16_emulation.md'))
    ap.add_argument('--worker', nargs=2, metavar=('ARM', 'PREC'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print('RESULT ' + json.dumps(worker(*a.worker, a.threads))); return
    t0, load0, runs = time.time(), os.getloadavg(), []
    for _ in range(a.rounds):
        for arm in ARMS:
            for prec in PRECS:
                r = subprocess.run([sys.executable, __file__, '--threads', str(a.threads), '--worker', arm, prec], capture_output=True,
                                   text=True, cwd=REPO, env={**os.environ, 'OMP_NUM_THREADS': str(a.threads)})
                line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
                if r.returncode or not line: sys.exit(f"worker {arm} / {prec} failed:\n{r.stderr[-3000:]}")
                runs.append(json.loads(line[-1][7:])); print(runs[-1], flush=True)
    sys.path.insert(0, str(REPO))
    from saat_nb.core import machine_info, cpu_bf16_units, cpu_model
    best = {(arm, prec): min((r for r in runs if r['arm'] == arm and r['prec'] == prec), key=lambda r: r['s_per_step'])
            for arm in ARMS for prec in PRECS}
    units = cpu_bf16_units()
    load = os.getloadavg()
    lines = ['# bf16 autocast on this CPU: measured against fp32', '',
             f"{time.strftime('%Y-%m-%d %H:%M')} · `python tools/bench_bf16_emulation.py --threads {a.threads} --rounds {a.rounds}` · "
             f"{time.time() - t0:.0f} s in all", '',
             f"Machine: {machine_info()}, CPU {cpu_model()!r}, bf16 units listed in /proc/cpuinfo: {', '.join(units) or 'none'}; "
             f"torch threads: {a.threads}. Load average (1/5/15 min) at the start {'/'.join(f'{x:.1f}' for x in load0)}, at the end "
             f"{'/'.join(f'{x:.1f}' for x in load)}.", '',
             'One cpu-preset training step (64 px, width 128, batch 16) on a fixed in-memory batch, median of the timed '
             'steps after a warm-up (`tools/bench_train_step.py`\'s worker), fastest of the rounds. `bf16+CL` is bf16 '
             'autocast + channels_last forced on, whatever the CPU lists.', '',
             '| arm | fp32 s/step | bf16+CL s/step | bf16 ÷ fp32 |', '|---|---|---|---|']
    ratios = {}
    for arm in ARMS:
        f, h = best[arm, 'fp32']['s_per_step'], best[arm, 'bf16+CL']['s_per_step']
        ratios[arm] = h / f
        lines.append(f"| {arm} | {f:.3f} | {h:.3f} | {h / f:.2f} |")
    saat = best['SAAT, paper order', 'fp32']['s_per_step']
    steps = 2500
    lines += ['', (f"Without bf16 units, bf16 is emulated: a SAAT step is {ratios['SAAT, paper order']:.1f}× slower than fp32 here, "
                   "so `core.device_amp` picks fp32 on such a CPU. " if not units else
                   f"This CPU has bf16 units ({', '.join(units)}): bf16 makes a SAAT step {1 / ratios['SAAT, paper order']:.2f}× faster. ")
              + f"A {steps}-step cpu-preset SAAT run at the fp32 rate would take about {saat * steps / 60:.0f} min of steps "
              f"on {a.threads} thread(s) alone (loader, evaluation and a second run beside it not counted)."]
    Path(a.out).write_text('\n'.join(lines) + '\n')
    Path(a.out).with_suffix('.json').write_text(json.dumps({'command': f'python tools/bench_bf16_emulation.py --threads {a.threads} --rounds {a.rounds}',
                                                            'machine': machine_info(), 'bf16_units': units, 'load_start': load0, 'load_end': load,
                                                            'runs': runs, 'bf16_over_fp32': ratios}, indent=1) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
