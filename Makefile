# Two commands for a new machine: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DAYS ?= 3
export DAGSTER_HOME := $(CURDIR)/.dagster

.PHONY: install browser demo dashboard dev test test-fast lint format bench clean

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

demo: install
	$(BIN)/sentiment-pipeline generate-sample --out data/landing --days $(DEMO_DAYS) --rows-per-day 400 --extra-cols 40
	$(BIN)/dagster asset materialize -m sentiment_pipeline.definitions --select '*' \
		--partition-range "$$($(BIN)/python -c 'from datetime import UTC, datetime, timedelta as d; t = datetime.now(UTC).date(); print(f"{t - d(days=$(DEMO_DAYS))}...{t - d(days=1)}")')"
	@echo
	@echo "Done. Parquet assets:  data/<asset>/year=YYYY/month=MM/day=DD/*.parquet"
	@echo "Dagster UI:            make dev   (then open http://127.0.0.1:3000)"
	@echo "Read API:              $(BIN)/sentiment-pipeline api-key create --name me && $(BIN)/sentiment-pipeline serve"
	@echo "                       (then http://127.0.0.1:8000/docs)"

# A fresh API key (printed once) and the read API with the dashboard at http://127.0.0.1:8000/.
dashboard: install
	@$(BIN)/sentiment-pipeline api-key create --name "dashboard-$$(date +%Y%m%d-%H%M%S)"
	@echo "Paste the key above into http://127.0.0.1:8000/ (it stays in that browser tab only)."
	$(BIN)/sentiment-pipeline serve --host 127.0.0.1 --port 8000

dev: install
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# A native crash (pytest killed by a signal, seen once: a segfault inside a test using S3)
# is printed with its traceback and the suite runs once more; a second crash or any test
# failure fails the target.
# The dashboard test drives Debian's Chromium (Playwright with the system browser: nothing is
# downloaded at run time); installed here where missing.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: install lint browser
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

clean:
	rm -rf $(VENV) .dagster data .pytest_cache
