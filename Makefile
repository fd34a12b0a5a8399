# Jira AI Assistant: the commands in the README. Each target bootstraps .venv from pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test serve worker lint bench check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## the main job on embedded defaults: simulator + app + worker, every intent
	$(BIN)/jira-ai demo

test: $(STAMP)  ## every test (unit, end-to-end with real processes, browser, Forge manifest)
	@if command -v npm >/dev/null 2>&1 && [ ! -f forge/node_modules/.package-lock.json ]; then \
	  npm ci --prefix forge --prefer-offline --ignore-scripts --no-audit --no-fund; fi
	$(BIN)/python -m pytest -q

serve: $(STAMP)  ## web + worker on embedded defaults (diskcache + SQLite queue under ./data)
	$(BIN)/jira-ai serve

worker: $(STAMP)
	$(BIN)/jira-ai worker

bench: $(STAMP)  ## benchmarks with the machine they ran on; report in bench-results/report.md
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check .

check: $(STAMP)
	$(BIN)/jira-ai check

clean:
	rm -rf data .pytest_cache tests/artifacts

.PHONY: forge
forge:  ## the Forge app: npm ci (packages from the npm registry), Custom UI bundles, manifest validation
	npm ci --prefix forge --prefer-offline --ignore-scripts --no-audit --no-fund
	npm run --prefix forge --silent build
	npm run --prefix forge --silent validate -- --brief
