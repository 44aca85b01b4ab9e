# awsmcp: `make run` starts the server on 127.0.0.1:8000; `make test` installs what tests need and runs them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
HOST ?= 127.0.0.1
PORT ?= 8000
NODE_VERSION := 22
CONFORMANCE_VERSIONS := 0.1.16 0.2.0-alpha.12

.PHONY: install run test test-deps redis node conformance-tools lint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	MCP_AUTH_REQUIRED=false $(VENV)/bin/daphne -b $(HOST) -p $(PORT) awsmcp.asgi:application

# redis-server from Debian's packages, if the machine has none.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server from Debian's packages"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# Node 22 and the conformance suites from npm, in .tools/ (the machine's node may be older).
$(TOOLS)/.installed:
	mkdir -p $(TOOLS)
	cd $(TOOLS) && [ -f package.json ] || (cd $(TOOLS) && npm init -y >/dev/null)
	cd $(TOOLS) && npm install --silent --no-audit --no-fund node@$(NODE_VERSION)
	for v in $(CONFORMANCE_VERSIONS); do \
	  mkdir -p $(TOOLS)/conformance-$$v && cd $(TOOLS)/conformance-$$v && \
	  ([ -f package.json ] || npm init -y >/dev/null) && \
	  npm install --silent --no-audit --no-fund @modelcontextprotocol/conformance@$$v && cd - >/dev/null; \
	done
	touch $@

conformance-tools: $(TOOLS)/.installed

test-deps: install redis conformance-tools

lint: install
	$(PY) -m ruff check .

test: test-deps lint
	$(PY) -m pytest

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(TOOLS) db.sqlite3
