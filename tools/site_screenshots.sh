#!/usr/bin/env bash
# Screenshots of the course site in headless Chromium, into outputs/site/ (or the folder given):
#   index.png     the front page (nbs/index.ipynb)
#   equations.png the page whose notebook has the most $$ equations (checked: MathJax typeset every one)
#   results.png   07_evaluate (10_reproduce if it is gone) from its first section that shows a figure
# Builds the site first (bash tools/site.sh). Needs Debian's chromium: apt-get install -y chromium.
# Usage: bash tools/site_screenshots.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-outputs/site}"); mkdir -p "$out"
command -v chromium >/dev/null || { echo "FAIL: needs chromium (apt-get install -y chromium)" >&2; exit 1; }
bash tools/site.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r site "$tmp/site"
chrome() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1800 \
  --virtual-time-budget=15000 --no-first-run --disable-background-networking --disable-component-update \
  --user-data-dir="$tmp/profile" "$@" 2>/dev/null; }

# which pages, and a copy of the results page that starts at its first figure's section
# (headless --screenshot cannot scroll: a scrolled page comes out blank, so the cells above are hidden)
read -r eq_page res_page < <(.venv/bin/python - "$tmp/site" <<'EOF'
import json, re, sys
from pathlib import Path
site = Path(sys.argv[1])
def n_display(nb):
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    return sum(''.join(c['source']).count('$$') // 2 for c in cells if c['cell_type'] == 'markdown')
eq = max(sorted(Path('nbs').glob('*.ipynb')), key=n_display).stem
res = next(n for n in ('07_evaluate', '10_reproduce') if (site / f'{n}.html').is_file())
html = (site / f'{res}.html').read_text(encoding='utf-8')
body = html[html.index('<div class="jupyter-wrapper">'):]
first_img = re.search(r'class="jp-RenderedImage\b', body).start()
hid = re.findall(r'<h[1-6]\b[^>]*\bid="([^"]+)"', body[:first_img])[-1]
js = ("<script>document.addEventListener('DOMContentLoaded', function () {"
      f"var c = document.getElementById('{hid}').closest('.jp-Cell');"
      "for (var s = c.previousElementSibling; s; s = s.previousElementSibling) s.style.display = 'none';"
      "});</script></body>")
(site / f'{res}_shot.html').write_text(html.replace('</body>', js), encoding='utf-8')
print(f'{eq}.html', f'{res}_shot.html')
EOF
)
echo "equation page: $eq_page, results page: ${res_page%_shot.html}.html"

# MathJax must have typeset every display equation of the equation page, and left no raw $$ in its text
chrome --dump-dom "file://$tmp/site/$eq_page" > "$tmp/dom.html"
.venv/bin/python - "$tmp/dom.html" <<'EOF'
import re, sys
dom = open(sys.argv[1], encoding='utf-8').read()
tex = len(re.findall(r'<script type="math/tex; mode=display"', dom))
shown = len(re.findall(r'class="MathJax_Display"', dom))
text = re.sub(r'<(script|style|pre|code)\b.*?</\1>', '', dom, flags=re.S)
raw = text.count('$$')
inline = len(re.findall(r'<script type="math/tex"', dom))
typeset = len(re.findall(r'<span class="MathJax" id="MathJax-Element-', dom))
errors = len(re.findall(r'class="[^"]*\b(?:merror|MathJax_Error)\b', text))
print(f'MathJax: {tex} display and {inline} inline equations, {shown} displays and {typeset} in all typeset, '
      f'{raw} raw $$ left, {errors} errors')
if not tex or shown < tex or typeset < tex + inline or raw or errors:
    sys.exit('FAIL: MathJax did not typeset the equations')
EOF

chrome --screenshot="$out/index.png" "file://$tmp/site/index.html" >/dev/null
chrome --screenshot="$out/equations.png" "file://$tmp/site/$eq_page" >/dev/null
chrome --screenshot="$out/results.png" "file://$tmp/site/$res_page" >/dev/null
ls -l "$out"/*.png
echo "pages: index.png=index.html equations.png=$eq_page results.png=${res_page%_shot.html}.html; $(chromium --version 2>/dev/null)"
