# The two quick-start commands (README): `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test lint bench-store bench-flow
VENV := .venv
PY := $(VENV)/bin/python

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/pipeline demo --out demo

test: setup
	@bash scripts/setup_test.sh
	$(PY) -m pytest -q tests

lint: setup
	$(VENV)/bin/ruff check .

bench-store: setup
	$(PY) bench/store_bench.py

bench-flow: setup
	$(PY) bench/flow_bench.py
