# Tzurot: `make run` runs everything, `make test` installs what is needed and tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev lint format typecheck bench clean-var

# ensurepip has been seen to fail once on a loaded machine: one clean retry.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); sleep 2; $(PYTHON) -m venv $(VENV); }

$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

## run: start PostgreSQL, Valkey, web, worker, beat (and the bot with DISCORD_TOKEN)
run: install
	$(BIN)/python -m tzurot_project.runner

## test: install everything the tests need (Python packages, Debian's chromium), then run the whole suite
test: install-dev
	./scripts/ensure_test_browser.sh
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	@echo "See BENCHMARKS.md for each benchmark's command."
