# awsmcp: `make run` starts the server on 127.0.0.1:8000; `make test` installs what tests need and runs them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-deps lint bench mutation clean

# Runs only when requirements.txt changed: the first time it shows pip's progress (a minute or two of downloads),
# afterwards `make run` starts without a word from pip.
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing requirements.txt into $(VENV)..."
	@$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -r requirements.txt
	@touch $@

install: $(VENV)/.installed

run: install
	AWSMCP_DEV=1 $(PY) manage.py migrate --noinput
	@echo "awsmcp on http://$(HOST):$(PORT)/mcp; the console at http://$(HOST):$(PORT)/admin/ (a login: $(PY) manage.py createsuperuser)"
	AWSMCP_DEV=1 MCP_AUTH_REQUIRED=false $(PY) -m awsmcp.serve --verbosity 0 -b $(HOST) -p $(PORT) awsmcp.asgi:application

# redis-server (Debian), Node 22 and the conformance suites (npm); see the script.
test-deps: install
	scripts/install-test-tools.sh

# ruff (rules and formatting) and mypy (check_untyped_defs; config in pyproject.toml). Layers, import circles and
# complexity are checked by tests/test_architecture.py.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: test-deps lint
	$(PY) -m pytest

bench: install
	scripts/install-test-tools.sh --servers-only
	AWSMCP_DEV=1 $(PY) -m bench $(PARTS)

# Mutation testing of the modules that guard the doors (not part of `make test`; see docs/mutation.md).
mutation: install
	$(PY) scripts/mutation.py

clean:
	rm -rf $(VENV) .tools db.sqlite3
