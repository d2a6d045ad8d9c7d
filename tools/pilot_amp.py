"""Paired pilot: the cpu preset's baseline and SAAT runs of one seed in bf16 autocast + channels_last, against the
committed fp32 runs of the same seed and steps -> OUT/README.md (+ results.json) beside the two run folders.

    python tools/pilot_amp.py --data ../shared/data/300w [--seed 0] [--out outputs/cpu/pilot_amp]

The two runs train side by side, one thread each (`python -m saat_nb.train --amp --channels-last`), as the fp32
runs did. The verdict compares each bf16-fp32 difference on helen/testset with the fp32 seed spread (max - min
over the committed seeds): only helen/testset, the validation split, decides; AFW is reported beside it.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def nme(d: Path, split: str):
    m = json.loads((d / 'metrics.json').read_text()); return float(m[split]['nme'])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', required=True); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=str(REPO / 'outputs' / 'cpu' / 'pilot_amp'))
    ap.add_argument('--ref', default=str(REPO / 'outputs' / 'cpu'), help='the folder of the committed fp32 runs')
    a = ap.parse_args()
    out, ref = Path(a.out), Path(a.ref)
    t0 = time.time(); procs = {}
    for kind in ('baseline', 'saat'):
        cmd = [sys.executable, '-m', 'saat_nb.train', '--preset', 'cpu', '--data', a.data, '--seed', str(a.seed), '--amp', '--channels-last',
               '--out', str(out / f'{kind}_s{a.seed}')] + (['--baseline'] if kind == 'baseline' else [])
        log = open(out.mkdir(parents=True, exist_ok=True) or out / f'{kind}_s{a.seed}.log', 'w')
        procs[kind] = (subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'OMP_NUM_THREADS': '1'}), cmd)
    for kind, (pr, cmd) in procs.items():
        if pr.wait(): sys.exit(f"{kind}: {' '.join(cmd)} failed: see {out / f'{kind}_s{a.seed}.log'}")
    rows, seeds = [], sorted(int(d.name.rsplit('_s', 1)[1]) for d in ref.glob('saat_s*') if (d / 'metrics.json').is_file())
    for kind in ('baseline', 'saat'):
        d32, d16 = ref / f'{kind}_s{a.seed}', out / f'{kind}_s{a.seed}'
        spread = max(nme(ref / f'{kind}_s{s}', 'valid') for s in seeds) - min(nme(ref / f'{kind}_s{s}', 'valid') for s in seeds)
        w16, w32 = (json.loads((d / 'run.json').read_text()).get('wall_s') for d in (d16, d32))
        rows.append({'run': d16.name, 'fp32 helen NME%': nme(d32, 'valid'), 'bf16 helen NME%': nme(d16, 'valid'),
                     'Δ helen': nme(d16, 'valid') - nme(d32, 'valid'), f'fp32 seed spread (seeds {seeds})': spread,
                     'within spread': abs(nme(d16, 'valid') - nme(d32, 'valid')) <= spread,
                     'fp32 AFW NME%': nme(d32, 'test'), 'bf16 AFW NME%': nme(d16, 'test'),
                     'fp32 wall s': w32, 'bf16 wall s': w16, 'speed-up': (w32 / w16) if w16 and w32 else None})
    sys.path.insert(0, str(REPO))
    from saat_nb.core import machine_info
    from saat_nb.metrics import markdown_table
    plan = json.loads((out / f'saat_s{a.seed}' / 'run.json').read_text())['config']['preset']
    lines = ['# Pilot: bf16 autocast + channels_last against fp32 (cpu preset, same seed, same steps)', '',
             f"`python tools/pilot_amp.py --data {a.data} --seed {a.seed}` · {time.strftime('%Y-%m-%d')} · {time.time() - t0:.0f} s · "
             f"machine: {machine_info()} · two runs side by side, 1 thread each (load average at the end {os.getloadavg()[0]:.1f})", '',
             f"bf16 runs: `{out.name}/baseline_s{a.seed}`, `{out.name}/saat_s{a.seed}` (preset amp={plan['amp']}, channels_last={plan['channels_last']}); "
             f"fp32 runs: the committed `{ref.name}/baseline_s{a.seed}`, `{ref.name}/saat_s{a.seed}` (trained on the same machine kind, 1 thread each, "
             "two at a time). Only helen/testset (validation) decides; AFW is shown beside it.", '', markdown_table(rows), '',
             '**Verdict.** ' + ' '.join(f"{r['run']}: bf16 − fp32 = {r['Δ helen']:+.2f} NME points on helen/testset, "
                                        f"{'within' if r['within spread'] else 'beyond'} the fp32 seed spread ({r[f'fp32 seed spread (seeds {seeds})']:.2f})."
                                        for r in rows), '']
    (out / 'README.md').write_text('\n'.join(lines))
    (out / 'results.json').write_text(json.dumps({'rows': rows, 'machine': machine_info()}, indent=1) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
