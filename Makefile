# ckn's one task runner: the README and CI call these targets.
#   make demo   set up, then load the bundled sample into the embedded store and print answers
#   make test   set up, then lint, type-check, check layers and run every test on both stores

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup browser demo test test-trust lint pytest neo4j lock clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ckn needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: setup
	$(BIN)/ckn demo

lint: setup
	$(BIN)/ruff check ckn tests scripts
	$(BIN)/ruff format --check ckn tests scripts
	$(BIN)/mypy ckn
	$(BIN)/lint-imports

# Debian's Chromium for the web app's browser tests (installed when missing; see the script)
browser:
	sh scripts/chromium.sh

pytest: setup browser
	$(BIN)/python -m pytest

test: lint pytest

# The trust battery alone (make test runs it too): roles, masking, audit, erasure, limits, outages.
test-trust: setup
	$(BIN)/python -m pytest -m trust

neo4j: setup
	$(BIN)/python scripts/neo4j_dev.py start

lock:
	rm -rf /tmp/ckn-lock && $(PYTHON) -m venv /tmp/ckn-lock
	/tmp/ckn-lock/bin/pip install --quiet -e ".[dev]"
	/tmp/ckn-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Benchmarks: ratios to references measured in the same run (BENCH_SCALE=medium for the full size).
BENCH_SCALE ?= small
bench: setup
	$(BIN)/ckn bench --scale $(BENCH_SCALE)
