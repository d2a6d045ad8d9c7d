"""The course site (`bash tools/site.sh`): built once into a temporary folder, then read back.

Every notebook has a page with as many images as it has image outputs, no page loads anything from the network,
the MathJax the pages load is in the site, links between notebooks lead to built pages, and the API reference
documents saat_nb.core."""
import json, re
from pathlib import Path
from urllib.parse import unquote, urlsplit
import pytest

REPO = Path(__file__).resolve().parents[1]
import importlib.util

def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m

site_build = _load('saat_site_build', REPO / 'tools' / 'site_build.py')
site_hooks = _load('saat_site_hooks', REPO / 'tools' / 'site_hooks.py')

NOTEBOOKS = sorted((REPO / 'nbs').glob('*.ipynb'))
IMAGE_TYPES = ('image/png', 'image/jpeg', 'image/gif', 'image/svg+xml')


@pytest.fixture(scope='module')
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('site') / 'site'
    try: return site_build.build(out, quiet=True)
    except site_build.SiteError as e: pytest.fail(f'the site does not build: {e}')


def _page(site, nb: Path) -> str: return (site / f'{nb.stem}.html').read_text(encoding='utf-8')


def test_a_page_per_notebook_with_its_images(site):
    assert NOTEBOOKS and (REPO / 'nbs' / 'index.ipynb') in NOTEBOOKS
    for nb in NOTEBOOKS:
        assert (site / f'{nb.stem}.html').is_file(), f'no page for {nb.name}'
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        want = sum(any(t in o.get('data', {}) for t in IMAGE_TYPES) for c in cells for o in c.get('outputs', []))
        html = _page(site, nb)
        got = len(re.findall(r'class="jp-Rendered(?:Image|SVG)\b', html))
        inline = len(re.findall(r'<img\b[^>]*\bsrc="data:image/', html))
        assert got == want, f'{nb.name}: {want} image outputs, the page shows {got}'
        assert inline >= sum(1 for _ in re.finditer(r'class="jp-RenderedImage\b', html)), nb.name


def test_index_is_the_front_page(site):
    "site/index.html is nbs/index.ipynb: its first heading is there."
    cells = json.loads((REPO / 'nbs' / 'index.ipynb').read_text(encoding='utf-8'))['cells']
    h1 = next(m.group(1) for c in cells if c['cell_type'] == 'markdown'
              for m in [re.search(r'^#\s+(.+)$', ''.join(c['source']), re.M)] if m)
    assert f'id="{site_hooks.slugify(h1)}"' in (site / 'index.html').read_text(encoding='utf-8'), h1


def test_nothing_from_the_network(site):
    for p in site.rglob('*.html'):
        html = p.read_text(encoding='utf-8')
        bad = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"', html)
        assert not bad, f'{p.relative_to(site)} loads {bad[:3]}'
        assert not re.search(r'''import\(\s*["'](?:https?:)?//''', html), p.relative_to(site)


def test_mathjax_is_in_the_site(site):
    for nb in NOTEBOOKS:
        html = _page(site, nb)
        srcs = [s for s in re.findall(r'<script\b[^>]*\bsrc="([^"]+)"', html) if 'MathJax.js' in s]
        assert srcs, f'{nb.stem}.html loads no MathJax'
        for s in srcs: assert (site / unquote(urlsplit(s).path)).is_file(), s
    mj = site / site_hooks.MATHJAX_DIR
    for f in ('config/TeX-AMS-MML_HTMLorMML-full.js', 'config/Safe.js', 'extensions/Safe.js',
              'jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js'):
        assert (mj / f).is_file(), f
    assert list((mj / 'fonts/HTML-CSS/STIX-Web/woff').glob('*.woff'))


def test_links_between_notebooks_resolve(site):
    pages = {f'{nb.stem}.html' for nb in NOTEBOOKS}
    for nb in NOTEBOOKS:
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', _page(site, nb)):
            u = urlsplit(href)
            if u.scheme or u.netloc: continue
            assert not u.path.endswith('.ipynb'), f'{nb.name}: link {href} not rewritten to its page'
            if u.path in pages:
                assert (site / u.path).is_file()
                if u.fragment: assert f'id="{u.fragment}"' in (site / u.path).read_text(encoding='utf-8'), href


def test_api_reference(site):
    core = (site / 'api' / 'core.html').read_text(encoding='utf-8')
    assert 'machine_info' in core and 'saat_nb.core' in core
    for m in site_build.api_modules(): assert (site / 'api' / f'{m}.html').is_file(), m
    assert not (site / 'api' / '_modidx.html').exists()
    nav = (site / 'index.html').read_text(encoding='utf-8')
    assert 'API reference' in nav and 'api/core.html' in nav


class _Files:
    "The two calls of mkdocs' Files that the link rewriting makes."
    def __init__(self, *names): self.urls = {n: n[:-6] + '.html' for n in names}
    def get_file_from_path(self, p):
        return type('F', (), {'url': self.urls[p]})() if p in self.urls else None


def test_rewrite_links():
    files = _Files('index.ipynb', '06_learner.ipynb')
    html = ('<a href="06_learner.ipynb">a</a> <a href="06_learner.ipynb#The-SAAT-callback">b</a> '
            '<a href="nbs/06_learner.ipynb#x">c</a> <a href="https://x.org/y.ipynb">d</a> <a href="#here">e</a>')
    out = site_hooks.rewrite_links(html, 'index.ipynb', 'index.html', files)
    assert 'href="06_learner.html"' in out and 'href="06_learner.html#the-saat-callback"' in out
    assert 'href="06_learner.html#x"' in out and 'href="https://x.org/y.ipynb"' in out and 'href="#here"' in out


def test_nav_follows_the_notebooks(tmp_path):
    for n in ('index', '01_b', '00_a', '00a_c'):
        (tmp_path / f'{n}.ipynb').write_text(json.dumps({'cells': [
            {'cell_type': 'markdown', 'source': [f'# Title {n}: long\n']}]}))
    (tmp_path / 'api').mkdir(); (tmp_path / 'api' / 'core.md').write_text('::: saat_nb.core\n')
    nav = site_hooks.build_nav(tmp_path)
    assert nav[0] == {'Overview': 'index.ipynb'}
    assert [list(d.values())[0] for d in nav[1]['Course']] == ['00_a.ipynb', '00a_c.ipynb', '01_b.ipynb']
    assert nav[1]['Course'][0] == {'00 Title 00_a': '00_a.ipynb'}
    assert nav[2] == {'API reference': [{'saat_nb.core': 'api/core.md'}]}


_PNG = ('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==')

def _nb(path: Path, md: str, png: bool = False):
    cells = [{'cell_type': 'markdown', 'metadata': {}, 'source': md}]
    if png: cells.append({'cell_type': 'code', 'metadata': {}, 'execution_count': None, 'source': 'plot()',
                          'outputs': [{'output_type': 'display_data', 'metadata': {},
                                       'data': {'image/png': _PNG, 'text/plain': '<Figure>'}}]})
    path.write_text(json.dumps({'cells': cells, 'nbformat': 4, 'nbformat_minor': 5, 'metadata': {
        'kernelspec': {'name': 'python3', 'language': 'python', 'display_name': 'Python 3'}}}))


def test_small_site_links_math_images(tmp_path):
    "End to end on two notebooks: the link (with its Jupyter-style anchor) lands, math loads MathJax, the image shows."
    nbs = tmp_path / 'nbs'; nbs.mkdir()
    _nb(nbs / 'index.ipynb', '# Mini\n\nSee [the other](01_other.ipynb#A-Section), '
        '[again](nbs/01_other.ipynb) and $$a^2 + b^2 = c^2$$ with $x$.', png=True)
    _nb(nbs / '01_other.ipynb', '# Other: a page\n\n## A Section\n\nBack to [the start](index.ipynb).')
    out = site_build.build(tmp_path / 'site', quiet=True, nbs_dir=nbs, modules=['core'])
    index = (out / 'index.html').read_text(encoding='utf-8')
    assert 'href="01_other.html#a-section"' in index and 'href="01_other.html"' in index
    assert 'href="index.html"' in (out / '01_other.html').read_text(encoding='utf-8')
    assert 'assets/mathjax/MathJax.js?config=' in index and '$$a^2 + b^2 = c^2$$' in index
    assert index.count('src="data:image/png;base64,') == 1
    assert '01 Other' in index   # the navigation's short title


def test_broken_link_fails_the_build(tmp_path):
    nbs = tmp_path / 'nbs'; nbs.mkdir()
    _nb(nbs / 'index.ipynb', '# Mini\n\nSee [gone](99_gone.ipynb).')
    with pytest.raises(site_build.SiteError, match=r'99_gone\.ipynb, which is no notebook of the site'):
        site_build.build(tmp_path / 'site', quiet=True, nbs_dir=nbs, modules=['core'])
