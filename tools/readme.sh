#!/usr/bin/env bash
# README.md is rendered from nbs/index.ipynb (nbdev-readme needs Quarto, which this project does not install).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/jupyter nbconvert --to markdown --log-level WARN nbs/index.ipynb --output-dir . --output README
