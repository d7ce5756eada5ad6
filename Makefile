# Courseware exchange node: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= var
export EXCHANGE_DATA_DIR ?= $(abspath $(DATA))
SAMPLE_N ?= 3000
SAMPLE_SEED ?= 20240901
PYTEST_ARGS ?=

.PHONY: venv run serve setup test test-sqlite test-postgres test-production lint bench clean demo-federation demo-nation demo-levels help

help:
	@echo "make run    - set up and start a node with sample data on http://127.0.0.1:8000"
	@echo "make test   - set up and run the whole suite (lint, SQLite lane, PostgreSQL lane, production-topology lane)"
	@echo "make bench  - run the benchmarks, figures go to bench/RESULTS.md and bench/results/"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

setup: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_vocabularies
	$(PY) manage.py rebuild_index --if-outdated --no-progress
	$(PY) manage.py seed_demo > /dev/null
	$(PY) manage.py seed_demo_vouchers
	@test -s $(EXCHANGE_DATA_DIR)/sample.jsonl || \
	  $(PY) -m catalog.sampledata --n $(SAMPLE_N) --seed $(SAMPLE_SEED) --out $(EXCHANGE_DATA_DIR)/sample.jsonl
	$(PY) manage.py import_corpus $(EXCHANGE_DATA_DIR)/sample.jsonl --free-for rural,remote,poor,ethnic_minority

run: setup
	@$(PY) manage.py seed_demo
	@echo "Serving on http://127.0.0.1:8000  (API docs: /api/docs/, health: /readyz)"
	$(PY) manage.py runserver 127.0.0.1:8000

# The SQLite and PostgreSQL lanes run side by side (each prints its output when it ends): each spends much of
# its time waiting on the servers and node processes it starts, so together they take little longer than
# the longer one alone. TEST_JOBS=1 runs them one after the other.
TEST_JOBS ?= 2
test: venv lint
	$(MAKE) --no-print-directory --output-sync=target -j$(TEST_JOBS) test-sqlite test-postgres
	$(MAKE) --no-print-directory test-production

test-sqlite: venv
	EXCHANGE_DATA_DIR=$$(mktemp -d) $(PY) -m pytest --ignore=tests/production $(PYTEST_ARGS)

# Browser tests and whole-node tests (marker ``nodes``: nodes on their own SQLite databases) run in the SQLite
# lane only: they do not touch the lane's database, and running them twice would test nothing more.
test-postgres: venv
	@echo "PostgreSQL lane: browser and whole-node (nodes) tests run in the SQLite lane, deselected here"
	EXCHANGE_DATA_DIR=$$(mktemp -d) $(PY) -m tests.servers postgres -- $(PY) -m pytest -m "not browser and not nodes" --ignore=tests/production $(PYTEST_ARGS)

# A hub and two provinces as deployed (deploy/compose.yaml's commands): gunicorn, rq workers, sync loops,
# PostgreSQL, Redis, S3 (moto), Elasticsearch API (noida-db), nginx in front of one province.
test-production: venv
	EXCHANGE_DATA_DIR=$$(mktemp -d) $(PY) -m pytest tests/production $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	EXCHANGE_DATA_DIR=$$(mktemp -d) $(VENV)/bin/mypy

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

# Figures go to bench/results/*.json and, each benchmark in its own marked section, to bench/RESULTS.md.
# BENCH_ONLY=load,crash runs a subset; BENCH_N sets the corpus size of the 100k benchmarks.
bench: venv $(VENV)/.bench-installed
	mkdir -p bench/results
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var

# A hub (:8100) and provinces cn-11 (:8101) and cn-44 (:8102), each with its own data under var/demo/,
# enrolled, seeded and syncing until Ctrl-C. FRESH=1 starts over.
demo-federation: venv
	$(PY) deploy/demo/federation_demo.py $(if $(FRESH),--fresh)

# The hub and 32 provinces (ports 8101-8132) with smaller samples (placeholder files, no previews).
# UNTIL_CONVERGED=1: from scratch (in var/demo-nation-converge), seed, take some records down, wait until
# every node holds the same catalog digest, print the time per phase and "converged in N s, peak memory
# M MiB" (or what failed) and exit (non-zero on failure).
# LEVELS=1: also cities below three provinces and a county below two of them (ports after the provinces'),
# enrolled level by level; with UNTIL_CONVERGED=1 in var/demo-nation-levels-converge. PROVINCES=n: the first n.
demo-nation: venv
	$(PY) deploy/demo/federation_demo.py --nation $(if $(LEVELS),--cities) $(if $(PROVINCES),--provinces $(PROVINCES)) \
	  $(if $(UNTIL_CONVERGED),--until-converged --fresh --root var/demo-nation$(if $(LEVELS),-levels)-converge,--root var/demo-nation$(if $(LEVELS),-levels) $(if $(FRESH),--fresh))

# Multi-level: the hub (:8100), Guangdong cn-44 (:8101), Guangzhou cn-4401 (:8102), Tianhe district
# cn-440106 (:8103) and Beijing cn-11 (:8104), enrolled level by level, syncing until Ctrl-C.
demo-levels: venv
	$(PY) deploy/demo/federation_demo.py --levels --root var/demo-levels $(if $(FRESH),--fresh)
