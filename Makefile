# ReplyWatch: two commands do all the set-up on a fresh machine.
#   make demo   the whole pipeline on this machine (MiniStack + a fake Mastodon server)
#   make test   lint, type checks, unit, integration and end-to-end tests
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is python3.13: find it (pyenv, PATH, or /usr/bin).
PY313 := $(shell infra/find-python313.sh)
VENV := .venv
PY := $(VENV)/bin/python
MINISTACK_VENV := .venv-ministack
TOOLS_VENV := .venv-tools
SAMTX := .local/samtx
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/core
export SAM_CLI_TELEMETRY := 0
# Tests and the demo talk to moto or MiniStack only, never to a real account.
unexport AWS_PROFILE AWS_ENDPOINT_URL

.PHONY: help demo test lint unit integration e2e venvs clean bench bench-detect bench-stats bench-classify atproto browser replay-x openapi

help:
	@echo "make demo   run the pipeline locally (MiniStack) and print alerts and stats"
	@echo "make test   lint + unit + integration + e2e (sets everything up itself)"
	@echo "make unit | integration | e2e | lint"
	@echo "make openapi   write docs/openapi.json from the API code (a unit test fails when it is stale)"
	@echo "make bench  benchmarks: poll fan-out over 1,000 sources against a slow fake API; detection latency; stats read cost"
	@echo "make bench-detect   due-to-flagged latency for 1,000 messages, sweep every minute vs every 5 minutes"
	@echo "make bench-stats   items a 30-day stats query reads, for 1,000 and for 1,000,000 messages (~4 min)"
	@echo "make bench-classify DATA=dir   sentiment macro-F1 and negative recall per CSV: offline vs VADER"
	@echo "make replay-x DATA=dialogs.json   replay customer-care dialogs on a fake X through the pipeline"

$(VENV)/.stamp: pyproject.toml layers/core/requirements.txt
	@test -n "$(PY313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0)"; exit 1; }
	$(PY313) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

$(MINISTACK_VENV)/.stamp: infra/local/requirements-ministack.txt infra/local/requirements-samtx.txt
	@test -n "$(PY313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0)"; exit 1; }
	$(PY313) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install -q -r infra/local/requirements-ministack.txt
	rm -rf $(SAMTX) && $(MINISTACK_VENV)/bin/pip install -q --target $(SAMTX) -r infra/local/requirements-samtx.txt 2>&1 \
	  | grep -v "dependency conflicts\|ministack .* requires botocore\|resolver does not currently" || true
	touch $@

$(TOOLS_VENV)/.stamp: infra/requirements-tools.txt
	@test -n "$(PY313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13.0)"; exit 1; }
	$(PY313) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q -r infra/requirements-tools.txt
	touch $@

venvs: $(VENV)/.stamp $(MINISTACK_VENV)/.stamp $(TOOLS_VENV)/.stamp

demo:
	@$(MAKE) --no-print-directory -j3 venvs
	$(PY) -m infra.local.demo $(if $(SERVE),--serve)

replay-x: $(VENV)/.stamp
	@test -n "$(DATA)" || { echo "usage: make replay-x DATA=path/to/dialogs.json (e.g. ../shared/data/ibm-customer-care/dev.json)"; exit 1; }
	@$(PY) -m infra.local.replay_x "$(DATA)"

openapi: $(VENV)/.stamp
	$(PY) -m infra.openapi

lint: $(VENV)/.stamp $(TOOLS_VENV)/.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check layers functions
	$(VENV)/bin/mypy
	@# Each handler is a module named `app`: check them one at a time.
	for handler in functions/*/app.py; do $(VENV)/bin/mypy --strict "$$handler" || exit 1; done
	$(VENV)/bin/cfn-lint template.yaml
	PATH=$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH $(TOOLS_VENV)/bin/sam validate --lint --template template.yaml

unit: $(VENV)/.stamp
	$(PY) -m pytest tests/unit -q

integration: $(VENV)/.stamp
	$(PY) -m pytest tests/integration -q

e2e: venvs
	$(PY) -m pytest tests/e2e -q

# The Bluesky reference servers (@atproto/dev-env) for the Bluesky integration tests:
# PostgreSQL and Redis from Debian (installed when missing, as root), node_modules via npm ci.
atproto:
	bash infra/local/atproto/setup.sh

# Headless Chromium for the dashboard tests: Debian's chromium (installed when missing, as root),
# driven by Playwright from the dev extras; no browser download.
browser:
	bash infra/local/browser/setup.sh

test:
	@$(MAKE) --no-print-directory -j4 venvs atproto browser
	@$(MAKE) --no-print-directory lint
	$(PY) -m pytest tests

# Benchmarks print measured ratios; they are not part of `make test`.
bench: $(VENV)/.stamp
	$(PY) -m bench.poll_bench
	$(PY) -m bench.detect_bench
	$(PY) -m bench.stats_read_bench

bench-detect: $(VENV)/.stamp
	$(PY) -m bench.detect_bench

bench-stats: $(VENV)/.stamp
	$(PY) -m bench.stats_read_bench

bench-classify: $(VENV)/.stamp
	@test -n "$(DATA)" || { echo "usage: make bench-classify DATA=../shared/data/sentiment-multilingual"; exit 1; }
	@$(PY) -m bench.classify_bench "$(DATA)"

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
