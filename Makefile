# Two commands for a fresh machine (Python 3.11): `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast conformance bench schema schema-check clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=/path/to/python3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(PYTHON) -m litert.demo

test: $(STAMP)
	$(PYTHON) -m pytest -q -m "slow or not slow"

test-fast: $(STAMP)
	$(PYTHON) -m pytest -q -m "not slow" -x

conformance: $(STAMP)
	$(PYTHON) -m pytest -q tests/test_conformance.py

bench: $(STAMP)
	$(PYTHON) benchmarks/bench_vs_official.py

schema: $(STAMP)
	$(PYTHON) tools/gen_schema.py

schema-check: $(STAMP)
	$(PYTHON) tools/gen_schema.py --check

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
