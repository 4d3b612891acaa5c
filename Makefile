# Two entry points for a fresh clone: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-faults clean

$(BIN)/coach: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BIN)/coach

demo: $(BIN)/coach
	$(BIN)/coach demo

lint: $(BIN)/coach
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -n 2

bench: $(BIN)/coach
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_gaps.py
	$(BIN)/python benchmarks/bench_advice.py
	$(BIN)/python benchmarks/bench_verdicts.py
	$(BIN)/python benchmarks/bench_cadence.py
	$(BIN)/python benchmarks/bench_read.py
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_roi.py
	$(BIN)/python benchmarks/bench_replica.py
	$(BIN)/python benchmarks/bench_one_on_ones.py
	$(BIN)/python benchmarks/bench_crm_derive.py
	$(BIN)/python benchmarks/bench_sync.py
	$(BIN)/python benchmarks/bench_salesforce.py

# Stops and starts this machine's PostgreSQL server in the middle: not part of `make bench`.
bench-faults: $(BIN)/coach
	$(BIN)/python benchmarks/bench_faults.py

clean:
	rm -rf $(VENV) demo coach.db *.egg-info .pytest_cache .ruff_cache .hypothesis
