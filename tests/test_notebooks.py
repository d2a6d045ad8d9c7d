"Every notebook (the course under nbs/, the executed copies under outputs/) is valid nbformat, so Jupyter, nbconvert and papermill open it."
import json, warnings
from pathlib import Path
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSE = sorted((ROOT / 'nbs').glob('*.ipynb'))
EXECUTED = sorted((ROOT / 'outputs').rglob('*.ipynb'))
ALLOWED_CELL_META = {'tags', 'hide_input', 'nbdev'}   # nbdev-clean keeps these (pyproject.toml: allowed_cell_metadata_keys)


def _read(f):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return nbformat.read(f, as_version=4)

@pytest.mark.parametrize('f', COURSE + EXECUTED, ids=lambda f: str(f.relative_to(ROOT)))
def test_notebook_is_valid(f):
    nbformat.validate(_read(f))

@pytest.mark.parametrize('f', COURSE, ids=lambda f: f.name)
def test_course_notebook_is_clean(f):
    "nbdev-clean leaves it as it is: no execnb `execution` timings (a float there fails validation), parameters cells keep their tag."
    extra = {k for c in json.loads(f.read_text())['cells'] for k in c.get('metadata', {})} - ALLOWED_CELL_META
    assert not extra, f"{f.name}: cell metadata {sorted(extra)}: run .venv/bin/nbdev-clean"

def test_course_converts_to_html():
    "`jupyter nbconvert --to html` works on every course notebook."
    from nbconvert import HTMLExporter
    ex = HTMLExporter()
    for f in COURSE:
        body, _ = ex.from_notebook_node(_read(f))
        assert '<html' in body, f

def test_parameters_cells_survive_cleaning():
    "papermill needs the tagged parameters cell of every notebook the pipeline runs."
    for name in ('06b_train.ipynb', '07_evaluate.ipynb', '10_reproduce.ipynb'):
        nb = _read(ROOT / 'nbs' / name)
        assert any('parameters' in c.metadata.get('tags', []) for c in nb.cells), name
