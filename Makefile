# One command per developer task. Every target sets up what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
# The modules metering compiles (tokenomy.compiled.MODULES), as source paths
COMPILED_SOURCES := $(shell sed -n 's|^    "\(tokenomy\.[a-z0-9_.]*\)",$$|\1|p' src/tokenomy/compiled.py | tr . / | sed 's|.*|src/&.py|')
ifeq ($(COMPILED_SOURCES),)
$(error no module names read from src/tokenomy/compiled.py's MODULES; mend the pattern above)
endif
OLDER_SDKS := $(VENV)/older-sdks
# The older SDK releases the capture's tests drive, pinned (a new pin installs them again)
OLDER_OPENAI_1 := 1.109.1
OLDER_OPENAI_2 := 2.54.0
OLDER_ANTHROPIC := 0.125.0
OLDER_STAMP := $(OLDER_SDKS)/.installed-$(OLDER_OPENAI_1)-$(OLDER_OPENAI_2)-$(OLDER_ANTHROPIC)
DEMO_DB ?= tokenomy.duckdb
DEMO_DATA ?= demo-data

.DEFAULT_GOAL := help
.PHONY: help install demo test test-unit lint format bench eval clean

help: ## Show the targets
	@awk -v db='$(DEMO_DB)' 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {text = $$2; \
		gsub(/\$$\(DEMO_DB\)/, db, text); printf "  make %-10s %s\n", $$1, text}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "tokenomy needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,server]'
	@touch $(STAMP)

# Metering's modules compiled with mypyc, again whenever one of their sources changes (tokenomy.compiled)
$(COMPILED): $(STAMP) scripts/compile-metering $(COMPILED_SOURCES)
	@echo "compiling metering (about a minute; the build's output: $(VENV)/compile-metering.log)"
	@$(BIN)/python scripts/compile-metering > $(VENV)/compile-metering.log 2>&1; tail -n 1 $(VENV)/compile-metering.log
	@touch $(COMPILED)

# The SDK releases built on httpx (openai 1.x and 2.x, anthropic 0.x), each set in a folder of its own
# beside the current ones: the capture's tests drive them in a process with that folder first on the path
# (tests/capture/test_older_sdks.py). Installed into a new folder that replaces the old one only once
# both sets are in: a failed download leaves what was there.
$(OLDER_STAMP): $(STAMP)
	@rm -rf $(OLDER_SDKS).new
	@for set in openai-1=$(OLDER_OPENAI_1) openai-2=$(OLDER_OPENAI_2); do \
		$(BIN)/python -m pip install --quiet --no-deps --target $(OLDER_SDKS).new/$${set%%=*} \
			"openai==$${set#*=}" 'anthropic==$(OLDER_ANTHROPIC)' 'distro==1.9.0' || { rm -rf $(OLDER_SDKS).new; \
			echo "make test: could not install the older SDK releases (openai $${set#*=}) from the package index" >&2; \
			exit 1; }; \
	done
	@rm -rf $(OLDER_SDKS) && mv $(OLDER_SDKS).new $(OLDER_SDKS) && touch $@

install: $(COMPILED) ## Create .venv, install tokenomy with its dev tools, compile metering

demo: $(COMPILED) ## Simulate a month of agent traffic, import it into $(DEMO_DB), audit it, print the report
	$(BIN)/tokenomy demo --db $(DEMO_DB) --out $(DEMO_DATA)

test: $(COMPILED) $(OLDER_STAMP) ## Run the whole test suite (unit, real-data, integration)
	./scripts/system-deps test
	TOKENOMY_OLDER_SDKS=$(OLDER_SDKS) $(BIN)/python -m pytest -n 2 -q

test-unit: $(COMPILED) ## Run only the fast unit tests
	$(BIN)/python -m pytest -n 2 -q -m 'not integration'

lint: $(STAMP) ## ruff format check, ruff, mypy --strict
	$(BIN)/ruff format --check src tests bench scripts/compile-metering
	$(BIN)/ruff check src tests bench scripts/compile-metering
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(COMPILED) ## Run the benchmarks (ratios measured side by side); see docs/benchmarks.md
	./scripts/system-deps bench
	$(BIN)/python -m bench

eval: $(COMPILED) ## Score the waste detectors: precision/recall on the simulator, findings on real traces
	$(BIN)/python -m bench audit

clean: ## Remove the virtual environment, caches and demo output
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DEMO_DATA) $(DEMO_DB) $(DEMO_DB).wal
