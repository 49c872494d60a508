# The two commands of the README. Both set up the virtual environment first.
#
# Dependencies: pyproject.toml declares the ranges; requirements.lock (made by `make lock`,
# committed) pins every package with its hashes, and `make setup` installs exactly that,
# then the project itself with --no-deps. `make test` first checks, offline, that the lock
# was resolved from the current pyproject.toml (tools/lockfile.py) and stops in one line
# if not.
#
# Type checking (mypy, configured in pyproject.toml): `scoring/` strictly (no untyped
# definitions, no Any returned where a type is declared); `serving/`, `training/`,
# `tools/` and `bench/` with mypy's defaults (bodies of unannotated functions are not
# checked) — clean at that level, not yet at scoring's; `tests/` not yet.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-unit test-integration test-browser lint typecheck lockcheck lock bench screenshots

$(VENV)/.installed: requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/leadscore demo

lockcheck:
	@python3 tools/lockfile.py check

typecheck: setup
	$(VENV)/bin/mypy

test: lockcheck setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -n auto --dist worksteal

# `make test` runs the tests on every core (pytest-xdist; each worker trains the session's
# model once, PostgreSQL tests get their own schemas, servers their own free ports).
# One folder of tests each (pyproject's testpaths: unit, then integration, then browser).
# unit: no database, registry, server or browser; integration: the app, SQLite/PostgreSQL,
# MLflow, Redis, the command line and child processes; browser: headless Chromium against
# a served app. test-unit is the quick loop: it leaves out the unit tests marked slow
# (they train models on 4,000-20,000 leads); `pytest tests/unit` runs them all.
test-unit: setup
	$(VENV)/bin/pytest -q -m "not slow" tests/unit

test-integration: setup
	$(VENV)/bin/pytest -q tests/integration

test-browser: setup
	$(VENV)/bin/pytest -q tests/browser

lint: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Re-resolve requirements.lock after changing dependencies in pyproject.toml (needs the
# package index), for every platform and for the oldest Python pyproject allows. The lock
# holds the extras `make test` needs: dev, and spark (pyspark, for `leadscore score
# --engine spark` and its tests; Java 17 comes from the system).
lock: setup
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra spark --universal --python-version 3.11 \
		--generate-hashes --quiet --custom-compile-command "make lock" -o requirements.lock
	python3 tools/lockfile.py stamp

bench: setup
	$(PY) bench/serve_bench.py

# The pages in English and Russian as PNGs in docs/screenshots/ (docs/screenshots.md): runs
# a fresh demo in a temporary LEADSCORE_HOME on port 8765, then headless system Chromium.
screenshots: setup
	$(PY) tools/screenshots.py --demo
