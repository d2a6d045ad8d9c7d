"""Execute course notebooks in place, so that their committed outputs are real.

    python tools/execute_course.py                 # every notebook under nbs/
    python tools/execute_course.py 07_evaluate     # some of them

Notebooks whose figures are about results (`COMMITTED_PARAMS`) run with papermill on the committed cpu-preset runs.
Papermill writes those parameters into a cell tagged `injected-parameters` under the notebook's own parameters
cell; this tool marks that cell `#| eval: false`, so nbdev-test (and CI) skip it and run the notebook at its smoke
defaults, while a reader sees which runs the committed outputs came from. Every other notebook is executed as it
is (smoke). Needs $SAAT_DATA (or ../shared/data/300w beside the repository)."""
import os, subprocess, sys, tempfile
from pathlib import Path
import nbformat, papermill

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
CPU = '../outputs/cpu'   # from nbs/, where the notebooks run
COMMITTED_PARAMS = {
    '07_evaluate': dict(PRESET='cpu', RUNS={'baseline_s0': f'{CPU}/baseline_s0', 'saat_s0': f'{CPU}/saat_s0'}),
    '08_predict': dict(FIGURES='../outputs/predict'),   # the photo figure, also saved as outputs/predict/any_photo.png
}
MARK = ("#| eval: false\n"
        "# The committed outputs below came from these parameters (tools/execute_course.py): the committed cpu-preset\n"
        "# runs. nbdev-test and CI skip this cell and run the notebook at the smoke defaults above; in Jupyter it runs.\n")

def execute(name: str) -> Path:
    nb = NBS / f'{name}.ipynb'
    if not nb.is_file(): raise SystemExit(f"execute_course: no notebook {nb}")
    params = COMMITTED_PARAMS.get(name)
    src = nbformat.read(nb, 4)
    src.cells = [c for c in src.cells if 'injected-parameters' not in c.metadata.get('tags', [])]   # a former run's
    with tempfile.TemporaryDirectory() as t:
        clean, done = Path(t) / nb.name, Path(t) / f'out_{nb.name}'
        nbformat.write(src, clean)
        papermill.execute_notebook(str(clean), str(done), parameters=params or {}, kernel_name='saat_nb', language='python',
                                   cwd=str(NBS), progress_bar=False)
        out = nbformat.read(done, 4)
    for c in out.cells:
        if 'injected-parameters' in c.metadata.get('tags', []):
            if params: c.source = MARK + c.source
    if not params: out.cells = [c for c in out.cells if 'injected-parameters' not in c.metadata.get('tags', [])]
    for k in ('papermill',): out.metadata.pop(k, None)
    for c in out.cells: c.metadata.pop('papermill', None); c.metadata.pop('execution', None)
    nbformat.validate(out)
    nbformat.write(out, nb)
    subprocess.run([str(ROOT / '.venv' / 'bin' / 'nbdev-clean'), '--fname', str(nb)], check=True)
    return nb

def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or sorted(p.stem for p in NBS.glob('*.ipynb'))
    os.environ.setdefault('SAAT_DATA', str(ROOT.parent / 'shared' / 'data' / '300w'))
    for n in names:
        print(f"execute_course: {n} ...", flush=True)
        execute(n)
    print(f"execute_course: {len(names)} notebook(s) executed in place")
    return 0

if __name__ == '__main__': sys.exit(main())
