# evolve — the two commands are `make run` and `make test`; everything installs itself into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
ARGS ?=
export XLA_FLAGS := --xla_cpu_enable_concurrency_optimized_scheduler=false

.PHONY: install run test test-fast ui bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,llm]'
	rm -f $(VENV)/.installed-* && touch $@

# A tiny three-stage architecture campaign on the CPU (GP designer unless an LLM server answers).
run: install
	$(BIN)/python -m evolve +domain=arch scale=tiny campaign.cycles=2 $(ARGS)

test: install
	$(BIN)/python -m pytest -q -ra $(ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

# MLflow UI over the local store (http://127.0.0.1:5000).
ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow/mlflow.db --host 127.0.0.1 --port 5000

bench: install
	$(BIN)/python bench/run_all.py $(ARGS)

clean:
	rm -rf runs outputs multirun .pytest_cache
