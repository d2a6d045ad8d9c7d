"""Time every course notebook at the smoke preset, one at a time (as a student runs them), with nbdev-test.

    python tools/time_course.py            # -> outputs/benchmarks/notebooks.json and .md

index.ipynb reads the json for its table of the course. nbdev-test runs each notebook in an in-process shell of
one worker, so modules an earlier notebook imported stay imported: in a fresh Jupyter kernel add the import time
(a few seconds, torch and fastai)."""
import json, os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from saat_nb.core import machine_info

def main() -> int:
    out = ROOT / 'outputs' / 'benchmarks'; out.mkdir(parents=True, exist_ok=True)
    cmd = [str(ROOT / '.venv' / 'bin' / 'nbdev-test'), str(ROOT / 'nbs'), '--timing', '--n-workers', '1']
    load0, t0 = os.getloadavg()[0], time.time()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    print(p.stdout[-3000:], p.stderr[-3000:], sep='\n')
    if p.returncode != 0:
        print(f"time_course: nbdev-test failed (exit {p.returncode}): nothing written", file=sys.stderr); return p.returncode
    secs = {m.group(1): float(m.group(2)) for m in re.finditer(r'^(\S+\.ipynb): (\d+) secs$', p.stdout, re.M)}
    if not secs: print("time_course: nbdev-test printed no timings", file=sys.stderr); return 1
    rec = dict(command='python tools/time_course.py', date=time.strftime('%Y-%m-%d'), machine=machine_info(),
               load_start=round(load0, 2), load_end=round(os.getloadavg()[0], 2), wall_s=round(time.time() - t0),
               preset='smoke', workers=1, seconds=secs)
    (out / 'notebooks.json').write_text(json.dumps(rec, indent=1) + '\n')
    md = [f"# Course notebooks at the smoke preset, one at a time", '',
          f"{rec['date']} · `{rec['command']}` · {rec['machine'].get('cpu_model')}, {rec['machine']['cores']} cores, "
          f"{rec['machine']['threads']} threads · load average {rec['load_start']} at the start, {rec['load_end']} at the end", '',
          '| notebook | seconds |', '|---|---|', *[f"| {k} | {v:.0f} |" for k, v in sorted(secs.items())],
          '', f"All of them: {rec['wall_s']} s."]
    (out / 'notebooks.md').write_text('\n'.join(md) + '\n')
    print(f"time_course: {len(secs)} notebooks, {rec['wall_s']} s -> {out / 'notebooks.json'}")
    return 0

if __name__ == '__main__': sys.exit(main())
