#!/usr/bin/env bash
# Create .venv and install the project with every dependency pinned by constraints.txt.
# Idempotent: reruns only when pyproject.toml / constraints.txt / this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
STAMP=.venv/.installed
HASH=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then exit 0; fi
echo "[setup] creating .venv with $($PY --version) (first run takes a few minutes: torch, mmpose)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt"
# Build tools first: two sdists (chumpy, xtcocotools) must build against this venv, not an isolated env.
$PIP "setuptools<81" wheel cython numpy
# (c) xtcocotools wheels on PyPI are built against numpy 1.x ("numpy.dtype size changed"): build from source.
# chumpy's setup.py imports pip, which an isolated build env lacks.
$PIP --no-build-isolation --no-binary xtcocotools xtcocotools chumpy
$PIP -e ".[dev]"
echo "$HASH" > "$STAMP"
echo "[setup] done: .venv ready"
