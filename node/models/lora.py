"""LoRA adapters through `peft` (optional extra `[lora]`), and the merged weights the sampler runs on.

    model = add_lora(model, LoraConfig(r=16, alpha=32, target_modules=["q_proj", "v_proj"]))
    merge_into(sampler, model)   # after each update: sampler's linear = W + (alpha / r) B A

With `model.lora` set, only the adapters train (float32, with their own Adam state): the frozen base
weights need no gradient and no optimizer state, which is what makes a model whose full update does
not fit trainable. Generation never runs through peft's wrappers: the policy keeps a plain copy of the
base model (in the compute dtype) and `merge_into` writes W + delta into its targeted layers whenever
an adapter changed, so the decode path (eager or compiled) sees an ordinary HF model.

References: peft `tuners/lora/layer.py` (`LoraLayer.get_delta_weight`); Hu et al., LoRA (arXiv 2106.09685).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from node.config import LoraConfig

logger = logging.getLogger(__name__)

ADAPTER = "default"
INSTALL_HINT = "pip install 'sapo-swarm[lora]' (or: pip install peft)"


class LoraUnavailableError(RuntimeError):
    """Raised when `model.lora` is set and `peft` is not installed; never raised without `model.lora`."""


def add_lora(model: torch.nn.Module, config: "LoraConfig") -> torch.nn.Module:
    """`model` wrapped with fresh LoRA adapters (B = 0, so its outputs are unchanged); base weights frozen.

    peft replaces the targeted layers inside `model` itself: copy the model first if the plain one is
    still needed.
    """
    try:
        import peft
    except ImportError as err:
        raise LoraUnavailableError(f"model.lora is set but peft is not installed: {INSTALL_HINT}") from err
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = sorted(set(config.target_modules) - names)
    if missing:
        raise ValueError(f"model.lora.target_modules {missing} name no layer of this model; "
                         f"its linear layers include {sorted(n for n in names if n.endswith('proj'))}")
    lora = peft.LoraConfig(r=config.r, lora_alpha=config.alpha, target_modules=list(config.target_modules),
                           lora_dropout=0.0, bias="none")
    wrapped = peft.get_peft_model(model, lora)
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    total = sum(p.numel() for p in wrapped.parameters())
    logger.info("LoRA r=%d alpha=%g on %s: %.2fM of %.1fM parameters train", config.r, config.alpha,
                ",".join(config.target_modules), trainable / 1e6, total / 1e6)
    return wrapped


def is_lora(model: torch.nn.Module) -> bool:
    """True for a model wrapped by `add_lora` (without importing peft)."""
    return hasattr(model, "peft_config")


@torch.no_grad()
def merge_into(sampler: torch.nn.Module, model: torch.nn.Module) -> int:
    """Write base + adapter delta of every LoRA layer of `model` into the same-named layer of `sampler`.

    `sampler` is a plain copy of the base model (any dtype); returns the number of layers written.
    Layers without adapters are frozen, so they already match.
    """
    targets = dict(sampler.named_modules())
    written = 0
    for name, module in model.named_modules():
        if not hasattr(module, "get_delta_weight") or ADAPTER not in getattr(module, "lora_A", {}):
            continue
        plain = targets[_plain_name(name)]
        merged = module.get_base_layer().weight.float() + module.get_delta_weight(ADAPTER).float()
        plain.weight.copy_(merged)
        written += 1
    return written


def _plain_name(peft_name: str) -> str:
    """`base_model.model.model.layers.0.self_attn.q_proj` -> `model.layers.0.self_attn.q_proj`."""
    prefix = "base_model.model."
    return peft_name[len(prefix):] if peft_name.startswith(prefix) else peft_name
