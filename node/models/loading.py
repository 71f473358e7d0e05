"""Where a policy's weights and tokenizer come from: a preset, a local folder, or a hub id.

    >>> pick_dtype("auto", torch.device("cpu"))
    torch.float32
    >>> model, tokenizer, wire_name = load_pretrained(ModelConfig(name="tiny-0.5m"), torch.float32)  # doctest: +SKIP

A preset is built or read from the cache (`ensure_model`); a folder is read as it is and goes on the
wire under its folder name only; a hub id is fetched only when `allow_download` is set, otherwise it
must already be in the local HF cache (`local_files_only=True`, so no network call is ever made).

References: transformers `AutoModelForCausalLM.from_pretrained` (local_files_only, dtype).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from node.config import ModelConfig
from node.models import MODEL_PRESETS, FamiliesLike, ModelUnavailableError, ensure_model

logger = logging.getLogger(__name__)

GENERIC_TOKENIZER_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast"}


def pick_device(name: str) -> torch.device:
    """auto: cuda, then mps, then cpu; anything else is taken as a torch device string."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """Compute dtype. auto: bfloat16 on cuda, float32 elsewhere (CPU bf16 matmuls are slow and lossy)."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


def load_pretrained(config: ModelConfig, dtype: torch.dtype, seed: int = 0, families: FamiliesLike = None
                    ) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase, str]:
    """(model on CPU, tokenizer, name for the wire) for `config.name`; see the module docstring."""
    source, wire_name, offline = _resolve(config, seed, families)
    try:
        tokenizer = _load_tokenizer(source, offline)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=offline, dtype=dtype)
    except OSError as err:
        if source != config.name or config.allow_download:
            raise
        raise ModelUnavailableError(
            f"model {config.name!r} is not a preset ({', '.join(sorted(MODEL_PRESETS))}), not a local "
            f"folder, and not in the local HF cache; set model.allow_download: true to fetch it"
        ) from err
    _check_tokenizer(tokenizer, config.name)
    return model, tokenizer, wire_name


def _resolve(config: ModelConfig, seed: int, families: FamiliesLike) -> tuple[str, str, bool]:
    """(what from_pretrained reads, the name peers see, whether to stay offline)."""
    if config.name in MODEL_PRESETS:
        return str(ensure_model(config, families=families, seed=seed)), config.name, True
    path = Path(config.name).expanduser()
    if path.is_dir():
        return str(path), path.name, True  # the folder name only: never put local paths on the wire
    if config.name.startswith(("/", ".", "~")):
        raise FileNotFoundError(f"model folder {config.name!r} does not exist")
    return config.name, config.name, not config.allow_download


def _load_tokenizer(source: str, offline: bool) -> transformers.PreTrainedTokenizerBase:
    """AutoTokenizer, except for folders saved with the generic fast class (our tiny presets).

    transformers 5 picks the tokenizer class from the model type, so a tiny Qwen2's tokenizer would
    come back as `Qwen2Tokenizer` with Qwen2's pre-tokenizer and no unk token: digits would still
    split, but bytes outside the trained alphabet would be dropped silently instead of becoming <unk>.
    """
    config_file = Path(source) / "tokenizer_config.json"
    if config_file.is_file():
        declared = json.loads(config_file.read_text()).get("tokenizer_class")
        if declared in GENERIC_TOKENIZER_CLASSES:
            return PreTrainedTokenizerFast.from_pretrained(source, local_files_only=True)
    return AutoTokenizer.from_pretrained(source, local_files_only=offline)


def _check_tokenizer(tokenizer: transformers.PreTrainedTokenizerBase, name: str) -> None:
    if tokenizer.chat_template is None:
        raise ValueError(f"model {name!r}: its tokenizer has no chat template; use an instruct/chat model")
    if tokenizer.eos_token_id is None:
        raise ValueError(f"model {name!r}: its tokenizer has no eos (end-of-turn) token")
