# Two commands set everything up on a fresh machine:
#   make run   - create .venv, install aitrack, run the main job on the embedded SQLite store
#   make test  - create .venv, install dev dependencies, run the whole suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test lint format bench clean install dev

$(VENV)/.installed: pyproject.toml setup.py src/aitrack/transcripts/_claude_read.c src/aitrack/store/_stage_pack.c src/aitrack/importing/_ulids.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m compileall -q src >/dev/null
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

# The main job: import whatever local agent transcripts exist, print the ROI report, then
# serve the dashboard (Ctrl-C to stop). DASHBOARD_PORT=0 picks a free port.
DASHBOARD_PORT ?= 8050
run: install
	$(VENV)/bin/aitrack import all
	$(VENV)/bin/aitrack report
	$(VENV)/bin/aitrack dashboard --port $(DASHBOARD_PORT)

# The store's tests also run on PostgreSQL when the local server answers.
test: dev
	@if $(PY) -c "import psycopg; psycopg.connect('$(PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		echo "PostgreSQL at $(PG_URL): store tests run on it too"; \
		AITRACK_TEST_DATABASE_URL=$(PG_URL) $(PY) -m pytest -q -n 2 -p no:cacheprovider; \
	else \
		echo "no PostgreSQL at $(PG_URL): store tests run on SQLite only"; \
		$(PY) -m pytest -q -n 2 -p no:cacheprovider; \
	fi

lint: dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

format: dev
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
