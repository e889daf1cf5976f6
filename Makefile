# Two commands for a new machine: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DAYS ?= 30
DEMO_LANDING := data/landing
export DAGSTER_HOME := $(CURDIR)/.dagster

# The first and the last day folder under the landing folder, as shell snippets that run with
# the recipe (so they see the days the demo has just written); empty when there is none.
LANDING_DAYS = ls $(DEMO_LANDING) 2>/dev/null | grep -xE '[0-9]{4}-[0-9]{2}-[0-9]{2}'
FIRST_LANDING_DAY = $$($(LANDING_DAYS) | head -n 1)
LAST_LANDING_DAY = $$($(LANDING_DAYS) | tail -n 1)
# Definitions loaded by `demo` and `dev` start their daily partitions where the landing data
# starts, not at the settings' default (no '699 partitions, 0 % filled' on first open); with
# no landing data the default applies (an empty value counts as unset), and a value set in the
# environment wins. `test` and `bench` make their own lakes and dates, so they do not get it.
WITH_PARTITIONS_START = SENTIMENT_PARTITIONS_START="$${SENTIMENT_PARTITIONS_START:-$(FIRST_LANDING_DAY)}"

.PHONY: install browser postgres demo dashboard dev test test-fast lint format bench clean

install: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	ln -sf ../dagster.yaml $@

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The demo tells a story over DEMO_DAYS days ending yesterday (UTC): weekly rhythm, a product
# incident a week ago and conversations that recover after it. The sample files of earlier
# demo runs are deleted first (only the demo's own files in its landing folder, data/landing:
# tickets-*.csv, chat-*.jsonl, servicedesk-*.csv, and the day folders they leave empty), so
# the partitions start at this story's first day.
demo: install
	find $(DEMO_LANDING) -mindepth 2 -maxdepth 2 -type f \( -name 'tickets-*.csv' -o -name 'chat-*.jsonl' -o -name 'servicedesk-*.csv' \) -delete 2>/dev/null || true
	find $(DEMO_LANDING) -mindepth 1 -maxdepth 1 -type d -empty -delete 2>/dev/null || true
	$(BIN)/sentiment-pipeline generate-sample --story --out $(DEMO_LANDING) --days $(DEMO_DAYS) --rows-per-day 400 --extra-cols 40
	$(WITH_PARTITIONS_START) $(BIN)/dagster asset materialize -m sentiment_pipeline.definitions --select '*' \
		--partition-range "$(FIRST_LANDING_DAY)...$(LAST_LANDING_DAY)"
	@echo
	@echo "Done. Parquet assets:  data/<asset>/year=YYYY/month=MM/day=DD/*.parquet"
	@echo "Dagster UI:            make dev   (then open http://127.0.0.1:3000)"
	@echo "Dashboard and API:     make dashboard   (prints a key; open http://127.0.0.1:8000/, API docs at /docs)"

# A fresh API key (printed once) and the read API with the dashboard at http://127.0.0.1:8000/.
dashboard: install
	@$(BIN)/sentiment-pipeline api-key create --name "dashboard-$$(date +%Y%m%d-%H%M%S)"
	@echo "Paste the key above into http://127.0.0.1:8000/ (it stays in that browser tab only)."
	$(BIN)/sentiment-pipeline serve --host 127.0.0.1 --port 8000

dev: install
	$(WITH_PARTITIONS_START) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The dashboard test drives Debian's Chromium (Playwright with the system browser: nothing is
# downloaded at run time); installed here where missing.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The production-instance test runs a throwaway PostgreSQL server with Debian's binaries
# (under /usr/lib/postgresql/<version>/bin, not on the PATH); installed here where missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

# A native crash (pytest killed by a signal, seen once: a segfault inside a test using S3)
# is printed with its traceback and the suite runs once more; a second crash or any test
# failure fails the target.
test: install lint browser postgres
	@$(BIN)/pytest -q; status=$$?; \
	if [ $$status -gt 128 ]; then \
		echo "pytest was killed by signal $$((status - 128)) (a native crash, traceback above): running the suite once more"; \
		$(BIN)/pytest -q; \
	else exit $$status; fi

test-fast: install
	$(BIN)/pytest -q -m "not slow and not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python benchmarks/ingest_wide.py
	$(BIN)/python benchmarks/enrich.py
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/run_overhead.py
	$(BIN)/python benchmarks/migration.py

clean:
	rm -rf $(VENV) .dagster data .pytest_cache
