# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap everything they
# need (a .venv from exact pins, Azurite from the committed package-lock.json).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
AZURITE_RUN := $(PY) -m devtools.azurite run --

.PHONY: setup chromium test lint typecheck pytest demo demo-status bench constraints clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(PY_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(PY_STAMP)
	$(VENV)/bin/mypy

# tests/ops renders a run report in Debian's chromium (headless); install it when it is missing.
# CI runs as root on Debian; anyone else gets the command to run.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" != "0" ]; then \
	    echo "make: /usr/bin/chromium is missing (tests/ops needs it) and only root can install it:" \
	      "sudo apt-get install -y --no-install-recommends chromium" >&2; \
	    exit 1; \
	  fi; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	fi

# pytest's exit code 5 ("no tests collected") fails the build like any other failure.
# Two workers (the machines have two cores), whole modules per worker: modules share a sandbox
# process and build on their own earlier tests.
PYTEST_ARGS ?= -n 2 --dist loadfile
pytest: setup chromium
	$(AZURITE_RUN) $(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

DEMO_STATE := .demo/azurite

# The demo keeps its Azurite data in $(DEMO_STATE) so that `make demo-status` can show the runs.
demo: setup
	rm -rf $(DEMO_STATE)
	$(PY) -m devtools.azurite run --location $(DEMO_STATE) -- $(PY) -m devtools.demo

demo-status: setup
	$(PY) -m devtools.azurite run --location $(DEMO_STATE) -- \
		env TASK_HUB_NAME=bcanaplandemo $(PY) -m local_host status

bench: setup
	$(AZURITE_RUN) $(PY) -m bench all

constraints: $(PY_STAMP)
	( echo '# Full transitive pin set, generated with `pip freeze` from requirements-dev.txt.'; \
	  echo '# Regenerate after changing a pin: make constraints'; \
	  $(PY) -m pip freeze --exclude-editable ) > constraints.txt

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .demo
