"""Why `core.device_amp` trains in fp32 on a CPU without bf16 units: one cpu-preset training step in fp32 against the
same step under bf16 autocast + channels_last forced on (as if the CPU listed `avx512_bf16`), baseline and SAAT (paper
order, as `train_run` trains), on this machine -> outputs/benchmarks/bf16_emulation.md and bf16_emulation.json.

    python tools/bench_bf16_emulation.py [--threads 1] [--rounds 2]

Each configuration runs in a fresh subprocess through `bench_train_step.worker` (the same fixed in-memory batch, warm-up
and median), interleaved over `--rounds` rounds; the fastest round counts (the machine is shared). On a CPU that has
bf16 units the forced arm is simply the normal bf16 arm, so the table then says how much bf16 gains there.
It takes a few minutes where bf16 is emulated (a forced SAAT step there takes tens of seconds).
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tools'))
import bench_train_step
from bench_train_step import _run

ARMS = ('baseline', 'SAAT, paper order')
PRECS = ('fp32', 'bf16+CL')


def worker(arm: str, prec: str, threads: int) -> dict:
    "One configuration in this process; for bf16+CL the CPU is made to look bf16-capable to `core.device_amp`."
    import saat_nb.core as core   # patched before bench_train_step.worker imports the learner
    if prec == 'bf16+CL': core.cpu_bf16_units = lambda: ['forced by tools/bench_bf16_emulation.py']
    return bench_train_step.worker('cpu preset', arm, prec, threads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--worker', nargs=2, metavar=('ARM', 'PREC'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print('RESULT ' + json.dumps(worker(*a.worker, a.threads))); return
    t0, load0, runs = time.time(), os.getloadavg(), []
    for _ in range(a.rounds):
        for arm in ARMS:
            for prec in PRECS:
                runs.append(_run(['--threads', str(a.threads), '--worker', arm, prec], {'OMP_NUM_THREADS': str(a.threads)},
                                 f'{arm} / {prec}', script=__file__))
    sys.path.insert(0, str(REPO))
    from saat_nb.core import machine_info, cpu_bf16_units, get_preset
    from bench_report import finish, write
    best = {(arm, prec): min((r for r in runs if r['arm'] == arm and r['prec'] == prec), key=lambda r: r['s_per_step'])
            for arm in ARMS for prec in PRECS}
    ratios = {arm: best[arm, 'bf16+CL']['s_per_step'] / best[arm, 'fp32']['s_per_step'] for arm in ARMS}
    units = cpu_bf16_units()
    rec = finish({'command': f'python tools/bench_bf16_emulation.py --threads {a.threads} --rounds {a.rounds}',
                  'date': time.strftime('%Y-%m-%d'), 'machine': machine_info(), 'threads': a.threads, 'bf16_units': units,
                  'runs': runs, 'bf16_over_fp32': ratios}, load0[0], t0)
    saat, steps = best['SAAT, paper order', 'fp32']['s_per_step'], get_preset('cpu').steps
    md = [f"bf16 units listed in /proc/cpuinfo: {', '.join(units) or 'none'}. One cpu-preset training step (64 px, width 128, "
          "batch 16) on a fixed in-memory batch, median of the timed steps after a warm-up (`tools/bench_train_step.py`'s "
          f"worker), fastest of {a.rounds} interleaved rounds. `bf16+CL` is bf16 autocast + channels_last forced on, "
          "whatever the CPU lists.", '',
          '| arm | fp32 s/step | bf16+CL s/step | bf16 ÷ fp32 |', '|---|---|---|---|',
          *(f"| {arm} | {best[arm, 'fp32']['s_per_step']:.3f} | {best[arm, 'bf16+CL']['s_per_step']:.3f} | {ratios[arm]:.2f} |"
            for arm in ARMS), '',
          (f"Without bf16 units, bf16 is emulated: a SAAT step is {ratios['SAAT, paper order']:.1f}× slower than fp32 here, "
           "so `core.device_amp` picks fp32 on such a CPU. " if not units else
           f"This CPU has bf16 units ({', '.join(units)}): bf16 makes a SAAT step {1 / ratios['SAAT, paper order']:.2f}× faster. ")
          + f"A {steps}-step cpu-preset SAAT run at the fp32 rate would take about {saat * steps / 60:.0f} min of steps "
          f"on {a.threads} thread(s) alone (loader, evaluation and a second run beside it not counted)."]
    print(write('bf16_emulation', rec, 'bf16 autocast on this CPU: measured against fp32', md).read_text())

if __name__ == '__main__':
    main()
