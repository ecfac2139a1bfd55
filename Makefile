# Two commands on a fresh machine: `make run` (the main job) and `make test` (the suite).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export LITELLM_LOCAL_MODEL_COST_MAP := True
export PYTHONUNBUFFERED := 1

.PHONY: run test lint bench docs install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/lakehouse main

# The lint gate runs first: ruff (lint + import order + format, 120 columns) and mypy on every folder of
# Python (lakehouse, modes, flows, bench, tests: [tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check lakehouse modes flows tests bench
	$(VENV)/bin/ruff format --check --quiet lakehouse modes flows tests bench
	$(VENV)/bin/mypy

# Three pytest workers, one test file each at a time (module fixtures stay in one process): many tests
# wait on servers, browsers and subprocesses, so a third keeps two cores busy (measured on the 2-core
# machine: 819 s with two workers, 733 s with three, CPU 93 % busy; see BENCHMARKS "test suite"). Tests marked
# `serial` run after them in one process (schemathesis parametrizes per operation only without xdist),
# collected from the files that carry the mark only: the whole tree's collection (imports of every
# test module) was about a quarter of that part's CPU (47.7 -> 34.8 CPU s).
# One math thread per worker: two workers of two torch/BLAS threads each on two cores spin for each
# other (the learning tests took 175 s so, 87 s with one thread each).
test: lint
	rc=0; OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 3 --dist loadfile -m "not serial" || rc=$$?; \
	$(PY) -m pytest -q -m serial $$(grep -rl --include='*.py' 'mark\.serial' tests) || rc=$$?; exit $$rc

bench: $(STAMP)
	$(PY) -m bench

# docs/CLI.md is every command's --help as Markdown, written by typer itself; a test fails when it is stale.
docs: $(STAMP)
	$(PY) -m typer flows.cli utils docs --name lakehouse --title "lakehouse: every command" --output docs/CLI.md

clean:
	rm -rf $(VENV) .lakehouse
