"""What every benchmark tool writes the same way: its record as outputs/benchmarks/<stem>.json and a markdown page whose
second line says when, the command, the machine, the threads, the load and the wall time."""
import json, os, time
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / 'outputs' / 'benchmarks'


def finish(rec: dict, load0: float, t0: float) -> dict:
    "Add the load at the end and the wall time to `rec` (which has `machine`, `command`, `date`, `threads`)."
    rec.update(load_start=round(load0, 2), load_end=round(os.getloadavg()[0], 2), wall_s=round(time.time() - t0))
    return rec


def write(stem: str, rec: dict, title: str, body: list[str], extra: str = '') -> Path:
    "-> outputs/benchmarks/<stem>.md (title, the provenance line, `body`), beside <stem>.json (`rec`)."
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f'{stem}.json').write_text(json.dumps(rec, indent=1) + '\n')
    m = rec['machine']
    head = (f"{rec['date']} · `{rec['command']}` · {m.get('cpu_model')}, {m['cores']} cores, {rec['threads']} threads · load "
            f"{rec['load_start']} at the start, {rec['load_end']} at the end · {rec['wall_s']} s" + (f" · {extra}" if extra else ''))
    (OUT / f'{stem}.md').write_text('\n'.join([f'# {title}', '', head, '', *body]) + '\n')
    return OUT / f'{stem}.md'
