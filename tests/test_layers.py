"The data flow reads top to bottom: each module imports only modules whose notebooks come before its own."
import ast, json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def notebook_order() -> list[str]:
    "Modules in the order of their notebooks' names (00_core, 00a_paper, 01_data, ...): the course's reading order."
    mods = []
    for nb in sorted((REPO / 'nbs').glob('[0-9]*.ipynb')):
        src = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        exp = [l.split()[-1] for s in src for l in s.splitlines() if l.startswith('#| default_exp')]
        mods += exp[:1]
    return mods


def imports(module: str) -> set[str]:
    "The saat_nb modules `module` imports anywhere in its file (top level or inside a function)."
    out = set()
    for n in ast.walk(ast.parse((REPO / 'saat_nb' / f'{module}.py').read_text())):
        if isinstance(n, ast.ImportFrom) and n.module:
            if n.level == 1: out.add(n.module.split('.')[0])
            elif n.module.startswith('saat_nb.'): out.add(n.module.split('.')[1])
        elif isinstance(n, ast.Import):
            out |= {a.name.split('.')[1] for a in n.names if a.name.startswith('saat_nb.')}
    return out - {module}


def test_every_module_has_one_notebook_in_order():
    order = notebook_order()
    files = {f.stem for f in (REPO / 'saat_nb').glob('*.py') if not f.name.startswith('_')}
    assert sorted(order) == sorted(files) and len(order) == len(set(order)), (order, files)
    assert order[:2] == ['core', 'paper'] and order[-1] == 'reproduce'


def test_no_module_reaches_up():
    order = notebook_order()
    rank = {m: i for i, m in enumerate(order)}
    up = {m: sorted(d for d in imports(m) if rank[d] > rank[m]) for m in order}
    up = {m: v for m, v in up.items() if v}
    assert not up, f"modules importing from a notebook that comes after theirs: {up}"
