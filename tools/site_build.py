"""Build the course site: `python tools/site_build.py [OUT]` (what `bash tools/site.sh` runs; OUT defaults to site/).

1. Stages the build inputs in a temporary folder, never touching nbs/: a copy of every nbs/*.ipynb (its
   committed outputs; the widget state is dropped, since an offline page cannot run the widgets and nbconvert
   then shows their text fallback) and one `api/<module>.md` stub (`::: saat_nb.<module>`) per public module.
2. Runs `mkdocs build --strict` with mkdocs.yml (hooks: tools/site_hooks.py) into OUT.
3. Checks the result: a page per notebook and per API stub, no <script src>/<link href> to http(s), the MathJax
   that pages load is in the site, and every link between pages resolves (file and #anchor).
Exits non-zero, saying why, on any failure.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
NBS, PKG = REPO / 'nbs', REPO / 'saat_nb'

_EXTERNAL_ASSET = re.compile(
    r'<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//[^>]*>', re.I)
_IMPORT_URL = re.compile(r'''\bimport\s*\(\s*["'](?:https?:)?//''')
_SCRIPT_SRC = re.compile(r'<script\b[^>]*?\bsrc="([^"]+)"', re.I)
_HREF = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"', re.I)
_ID = re.compile(r'\bid="([^"]+)"')


class SiteError(Exception): pass


def api_modules() -> list[str]:
    "The public modules of saat_nb (not _modidx, not _private, not __init__)."
    return sorted(p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_'))


def stage(docs: Path, nbs_dir: Path = NBS, modules: list[str] | None = None) -> list[str]:
    "Copy the notebooks (widget state dropped) and write the API stubs into `docs`; the notebooks' names."
    nbs = sorted(nbs_dir.glob('*.ipynb'))
    if not nbs: raise SiteError(f'no notebooks under {nbs_dir}')
    if not (nbs_dir / 'index.ipynb').is_file(): raise SiteError(f'{nbs_dir}/index.ipynb (the front page) is missing')
    for p in nbs:
        try: nb = json.loads(p.read_text(encoding='utf-8'))
        except ValueError as e: raise SiteError(f'{p} is not valid JSON: {e}') from e
        nb.get('metadata', {}).pop('widgets', None)
        (docs / p.name).write_text(json.dumps(nb, ensure_ascii=False), encoding='utf-8')
    (docs / 'api').mkdir()
    for m in (api_modules() if modules is None else modules):
        (docs / 'api' / f'{m}.md').write_text(f'::: saat_nb.{m}\n', encoding='utf-8')
    return [p.name for p in nbs]


def page_of(nb_name: str) -> str: return nb_name[:-len('.ipynb')] + '.html'


def check(site: Path, nb_names: list[str], modules: list[str] | None = None) -> None:
    "Raise SiteError listing what is wrong with the built site."
    errors = []
    pages = sorted(site.rglob('*.html'))
    for nb in nb_names:
        if not (site / page_of(nb)).is_file(): errors.append(f'no page for nbs/{nb} ({page_of(nb)})')
    for m in (api_modules() if modules is None else modules):
        if not (site / 'api' / f'{m}.html').is_file(): errors.append(f'no API page for saat_nb.{m}')
    def local(page: Path, path: str) -> Path:  # 404.html's links are server-absolute (/x.html): from the site root
        path = unquote(path)
        return ((site / path.lstrip('/')) if path.startswith('/') else (page.parent / path)).resolve()
    ids: dict[Path, set[str]] = {}
    def ids_of(p: Path) -> set[str]:
        if p not in ids: ids[p] = set(_ID.findall(p.read_text(encoding='utf-8')))
        return ids[p]
    for p in pages:
        html, rel = p.read_text(encoding='utf-8'), p.relative_to(site)
        for m in _EXTERNAL_ASSET.finditer(html): errors.append(f'{rel}: loads from the network: {m.group(0)[:160]}')
        if _IMPORT_URL.search(html): errors.append(f'{rel}: a script imports from the network')
        for src in _SCRIPT_SRC.findall(html):
            u = urlsplit(src)
            if not u.scheme and not local(p, u.path).is_file():
                errors.append(f'{rel}: script {src} is not in the site')
        if p.name in {page_of(n) for n in nb_names} and 'MathJax.js' not in html:
            errors.append(f'{rel}: a notebook page that loads no MathJax')
        for href in _HREF.findall(html):
            u = urlsplit(href)
            if u.scheme or u.netloc or href.startswith(('mailto:', 'javascript:')) or not (u.path or u.fragment):
                continue
            target = local(p, u.path) if u.path else p
            if u.path.endswith('/'): target = target / 'index.html'
            if not target.is_file():
                errors.append(f'{rel}: link {href} goes to no file of the site'); continue
            if u.fragment and target.suffix == '.html' and unquote(u.fragment) not in ids_of(target):
                errors.append(f'{rel}: link {href}: no #{unquote(u.fragment)} on {target.relative_to(site)}')
    if errors:
        raise SiteError(f'{len(errors)} problem(s) in the built site:\n  ' + '\n  '.join(errors[:60]))


def build(out: Path | str = REPO / 'site', quiet: bool = False,
          nbs_dir: Path = NBS, modules: list[str] | None = None) -> Path:
    """Stage, build with mkdocs (strict) into `out`, check; return `out`. Raises SiteError on any failure.
    `nbs_dir` and `modules` (default: nbs/ and every public module) let the tests build a small site."""
    out, nbs_dir = Path(out).resolve(), Path(nbs_dir).resolve()
    with tempfile.TemporaryDirectory(prefix='saat_site_') as tmp:
        docs = Path(tmp) / 'docs'; docs.mkdir()
        nb_names = stage(docs, nbs_dir, modules)
        env = dict(os.environ, SAAT_SITE_DOCS=str(docs), SAAT_SITE_NBS=str(nbs_dir), NO_MKDOCS_2_WARNING='1')
        cmd = [sys.executable, '-m', 'mkdocs', 'build', '--strict', '--clean',
               '-f', str(REPO / 'mkdocs.yml'), '-d', str(out)]
        r = subprocess.run(cmd, cwd=REPO, env=env, text=True,
                           stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None)
        if r.returncode != 0:
            why = ' (its messages above: in strict mode every WARNING fails the build)'
            if quiet:
                bad = [l for l in r.stdout.splitlines() if re.match(r'\s*(WARNING|ERROR)\b', l)]
                why = ':\n' + '\n'.join(bad or r.stdout.splitlines()[-40:])
            raise SiteError(f'mkdocs build failed (exit {r.returncode}){why}')
    check(out, nb_names, modules)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ('-h', '--help'): print(__doc__); return 0
    out = Path(argv[0]) if argv else REPO / 'site'
    t = time.time()
    try:
        build(out)
    except SiteError as e:
        print(f'SITE BUILD FAILED: {e}', file=sys.stderr); return 1
    print(f'site built and checked in {time.time() - t:.0f} s: {out}/index.html '
          f'({len(list(out.rglob("*.html")))} pages)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
