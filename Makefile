# The two quick-start commands (README): `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test lint bench-store
VENV := .venv
PY := $(VENV)/bin/python

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/pipeline demo --out demo

test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(VENV)/bin/ruff check .

bench-store: setup
	$(PY) bench/store_bench.py
