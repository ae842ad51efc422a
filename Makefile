# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two installs, each with its stamp: the demo needs the package alone; tests,
# lint and benchmarks need the dev tools, the Redis and PostgreSQL clients and
# prometheus-client as well.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# Where `make run` serves: `make run PORT=8001`.
PORT   ?= 8000

.PHONY: run test bench lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,redis,postgres,metrics]"
	touch $@

install: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# CI runs `make test` (.ci/run): lint first, so a broken layer or type fails the build.
test: lint
	$(BIN)/python -m pytest

# Every checker runs, so one report shows all that is wrong; any failure fails lint.
lint: $(DEV_STAMP)
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/lint-imports --no-logo || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache \
		build dist *.egg-info example_project/db.sqlite3
