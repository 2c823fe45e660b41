# The two commands a newcomer runs: `make demo` and `make test`. Both start from nothing but
# Python 3.11 and are idempotent (the venv is rebuilt only when pyproject.toml changes).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_BASE := $(VENV)/.installed-base
STAMP_TEST := $(VENV)/.installed-test
# Never run more busy threads than cores; pytest runs one process.
export PYTHONUNBUFFERED := 1

.PHONY: demo test test-all lint bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# constraints.txt pins the exact local CPU build of torch; the package itself asks for a range.
$(STAMP_BASE): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e .
	@touch $@

$(STAMP_TEST): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	@touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	$(VENV)/bin/cnnlab train --recipe lenet-mnist --out runs/demo --overwrite

# One pytest process. (It was two until a SIGSEGV on AMX CPUs was found: tests/helpers/altstack.py.)
test: $(STAMP_TEST)
	$(PY) -m pytest -q tests

# ruff (pinned in the test extra): the lint rules and the format live in pyproject.toml
lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

test-all: $(STAMP_TEST)
	$(PY) -m pytest -q -m ''

bench: $(STAMP_TEST)
	@ls benchmarks/*.py | while read f; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) runs build src/*.egg-info .pytest_cache
