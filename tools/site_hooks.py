"""MkDocs hooks of the course site (mkdocs.yml `hooks:`; built by `bash tools/site.sh`).

- `on_config`: the navigation, from the docs folder: `index.ipynb` first, every other notebook in sorted order,
  then "API reference" (the `api/*.md` stubs that tools/site_build.py writes), so a notebook split or renamed needs
  no edit here.
- `on_page_content`: on notebook pages, the table of contents is rebuilt from the headings' real ids
  (mkdocs-jupyter drops inline code from its TOC slugs, so `## `train_run`: one run` linked nowhere), nbconvert's CDN MathJax block becomes the site's own copy
  (`assets/mathjax/`), the mermaid/widget loaders (CDN imports) are dropped, links to other notebooks
  (`06_learner.ipynb#Some-section`, also `nbs/06_learner.ipynb`) point at their pages, and images that markdown
  cells take from files beside the notebooks are copied into the site.
- `on_post_build`: copies the MathJax files a page needs out of the `jupyter-server-mathjax` package.

A problem is logged as a warning, so `strict: true` fails the build on it.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import posixpath
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mkdocs.utils import get_relative_url

log = logging.getLogger('mkdocs.hooks.site')

MATHJAX_DIR = 'assets/mathjax'   # inside the site
MATHJAX_CONFIG = 'TeX-AMS-MML_HTMLorMML-full,Safe'
NB_FILES_DIR = 'assets/nbfiles'  # local images taken by markdown cells
_MATHJAX_PARTS = ['MathJax.js', 'LICENSE', 'config', 'extensions', 'jax/input/TeX', 'jax/element',
                  'jax/output/HTML-CSS', 'fonts/HTML-CSS/STIX-Web/woff', 'localization/en']
_MATHJAX_SKIP = {'a11y'}  # the accessibility explorer (3.7 MB), only loaded from MathJax's menu

# nbconvert's base/mathjax.html.j2 writes this block (a CDN <script src> and its config) on every notebook page
_NB_MATHJAX = re.compile(r'<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->', re.S)
_SCRIPT = re.compile(r'<script\b[^>]*>.*?</script>', re.S)
_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.S)
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]*)(")', re.S)

_HEADING = re.compile(r'<h([1-6])\b[^>]*?\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_ANCHOR = re.compile(r'<a\b[^>]*class="anchor-link"[^>]*>.*?</a>', re.S)
_TAG = re.compile(r'<[^>]+>')

_nb_files: dict[str, Path] = {}  # site path -> source file, copied in on_post_build


def mathjax_static() -> Path:
    "The MathJax 2 tree that the `jupyter-server-mathjax` package ships."
    spec = importlib.util.find_spec('jupyter_server_mathjax')
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError('site: the jupyter-server-mathjax package is missing: pip install -r requirements.txt')
    p = Path(list(spec.submodule_search_locations)[0]) / 'static'
    if not (p / 'MathJax.js').is_file(): raise RuntimeError(f'site: no MathJax.js under {p}')
    return p


def mathjax_html(page_url: str) -> str:
    "MathJax from the site's own files, configured as the Jupyter notebook configures it ($, $$, \\(, \\[)."
    src = get_relative_url(f'{MATHJAX_DIR}/MathJax.js', page_url)
    return ('<script type="text/x-mathjax-config">\n'
            'MathJax.Hub.Config({\n'
            '  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},\n'
            r"  tex2jax: {inlineMath: [['$','$'], ['\\(','\\)']], displayMath: [['$$','$$'], ['\\[','\\]']],"
            '\n            processEscapes: true, processEnvironments: true},\n'
            '  displayAlign: "center", messageStyle: "none",\n'
            '  "HTML-CSS": {availableFonts: [], imageFont: null, preferredFont: null, webFont: "STIX-Web",\n'
            '               linebreaks: {automatic: true}}\n'
            '});\n'
            '</script>\n'
            f'<script src="{src}?config={MATHJAX_CONFIG}"></script>')


def slugify(text: str) -> str:
    "The heading ids mkdocs-jupyter gives (lower case, punctuation dropped, spaces and runs of '-' to one '-')."
    from mkdocs_jupyter.utils import slugify as _slugify
    return _slugify(text)


def short_title(nb: Path) -> str:
    "'06b Training' from 06b_train.ipynb's '# Training: one run, from a fresh folder ...' (its first H1, to the colon)."
    import json
    title = nb.stem
    try:
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    except (OSError, ValueError, KeyError) as e:
        raise RuntimeError(f'site: {nb.name} is not a readable notebook: {e}') from e
    for c in cells:
        if c.get('cell_type') != 'markdown': continue
        m = re.search(r'^#\s+(.+)$', ''.join(c.get('source', '')), re.M)
        if m:
            title = re.sub(r'[\\`*]', '', m.group(1)).split(':')[0].strip()
            break
    num = nb.stem.split('_')[0]
    return title if nb.stem == 'index' or not re.match(r'\d', num) else f'{num} {title}'


def build_nav(docs: Path) -> list:
    "index first, then the notebooks in sorted order, then API reference (api/*.md, sorted)."
    nbs = sorted(p for p in docs.glob('*.ipynb') if p.stem != 'index')
    nav: list = []
    if (docs / 'index.ipynb').is_file(): nav.append({'Overview': 'index.ipynb'})
    nav.append({'Course': [{short_title(p): p.name} for p in nbs]})
    api = sorted((docs / 'api').glob('*.md'))
    if api: nav.append({'API reference': [{f'saat_nb.{p.stem}': f'api/{p.name}'} for p in api]})
    return nav


def on_config(config, **kw):
    config['nav'] = build_nav(Path(config['docs_dir']))
    _nb_files.clear()
    return config


def _notebook_target(path: str, page_src: str, files):
    "The File a relative link to a notebook means, or None."
    cands = [posixpath.normpath(posixpath.join(posixpath.dirname(page_src), path))]
    if 'nbs/' in path: cands.append(path.rsplit('nbs/', 1)[1])   # a link written for the repo (README, GitHub)
    for c in cands:
        f = files.get_file_from_path(c)
        if f is not None: return f
    return None


def rewrite_links(html: str, page_src: str, page_url: str, files) -> str:
    "Links to other notebooks (`X.ipynb`, `X.ipynb#Section-Title`) -> their pages (`X.html#section-title`)."
    def sub(m):
        href = m.group(2)
        u = urlsplit(href)
        if u.scheme or u.netloc or not u.path.endswith('.ipynb'): return m.group(0)
        f = _notebook_target(unquote(u.path), page_src, files)
        if f is None:
            log.warning(f'site: {page_src} links to {href}, which is no notebook of the site')
            return m.group(0)
        new = get_relative_url(f.url, page_url) + (f'#{slugify(unquote(u.fragment))}' if u.fragment else '')
        return m.group(1) + new + m.group(3)
    return _HREF.sub(sub, html)


def local_images(html: str, page_src: str, page_url: str, nbs_dir: Path | None) -> str:
    "Images that markdown cells take from files beside the notebooks: copied under assets/nbfiles/."
    def sub(m):
        src = m.group(2)
        u = urlsplit(src)
        if u.scheme or u.netloc or not u.path or src.startswith('data:'): return m.group(0)
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(page_src), unquote(u.path)))
        p = (nbs_dir / rel).resolve() if nbs_dir else None
        if p is None or not p.is_file():
            log.warning(f'site: {page_src} shows image {src}, which is not a file beside the notebooks')
            return m.group(0)
        dest = f'{NB_FILES_DIR}/' + re.sub(r'[^\w.-]+', '_', rel.replace('../', 'up_'))
        _nb_files[dest] = p
        return m.group(1) + get_relative_url(dest, page_url) + m.group(3)
    return _IMG_SRC.sub(sub, html)


def heading_toc(html: str) -> list[dict]:
    "Nested TOC tokens (as Markdown's toc extension makes them) from the <hN id=...> of rendered HTML."
    root: list[dict] = []
    stack: list[dict] = []
    for lvl, hid, inner in _HEADING.findall(html):
        name = _TAG.sub('', _ANCHOR.sub('', inner)).strip()
        tok = dict(level=int(lvl), id=hid, name=name, html=name, data_toc_label='', children=[])
        while stack and stack[-1]['level'] >= tok['level']: stack.pop()
        (stack[-1]['children'] if stack else root).append(tok)
        stack.append(tok)
    return root


def on_page_content(html, page, config, files, **kw):
    src = page.file.src_uri
    if not src.endswith('.ipynb'): return html
    from mkdocs.structure.toc import get_toc
    page.toc = get_toc(heading_toc(html))
    html, n = _NB_MATHJAX.subn(lambda m: mathjax_html(page.file.url), html, count=1)
    if n == 0:
        log.warning(f"site: {src}: nbconvert's MathJax block not found (template changed?): math would not render")
    # the mermaid loader (a module script importing from a CDN) and a widget loader, should one appear
    html = _SCRIPT.sub(lambda m: '' if ('mermaid' in m.group(0) or 'addWidgetsRenderer' in m.group(0))
                       else m.group(0), html)
    html = rewrite_links(html, src, page.file.url, files)
    nbs = os.environ.get('SAAT_SITE_NBS')
    return local_images(html, src, page.file.url, Path(nbs) if nbs else None)


def copy_mathjax(site_dir: Path) -> Path:
    "The parts of MathJax 2 the pages use (TeX input, HTML-CSS output, STIX-Web fonts, English) into the site."
    root, dest = mathjax_static(), site_dir / MATHJAX_DIR
    if dest.exists(): shutil.rmtree(dest)
    for part in _MATHJAX_PARTS:
        s = root / part
        if s.is_dir():
            shutil.copytree(s, dest / part, ignore=lambda d, names: [n for n in names if n in _MATHJAX_SKIP])
        elif s.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, dest / part)
        else:
            raise RuntimeError(f'site: MathJax part {part} missing under {root}')
    return dest


def on_post_build(config, **kw):
    site = Path(config['site_dir'])
    copy_mathjax(site)
    for dest, p in _nb_files.items():
        (site / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, site / dest)
