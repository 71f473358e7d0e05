"""Which model fits a device: a memory estimate of one round (weights, gradients, Adam, activations,
KV cache) and `pick_model`, the largest preset whose update fits with headroom.

    >>> shape = RoundShape(update_rows=128, generate_rows=64, sequence_tokens=134, micro_batch=64)
    >>> choice = pick_model(8 * GIB, "cuda", shape)
    >>> choice.name, choice.lora, choice.micro_batch
    ('smollm2-135m', False, 16)
    >>> pick_model(64 * GIB, "cpu", shape).name   # CPU stops at the tiny presets
    'tiny-16m'

The estimate is deliberately simple (bytes per parameter and per token, no allocator model) and is
calibrated on one measurement: a 494M Qwen2.5-0.5B-shaped node updating 64 x 387 tokens at
micro-batch 16 peaked at 34.1 GiB on an H100 (benchmarks/results/gpu_round.txt); the formula gives
within 10% of that. A node whose full update does not fit can train LoRA adapters instead
(`model.lora`); `pick_model` offers that only when no preset fits with a full update. To fit a larger
model it may lower the update's micro-batch (down to `MIN_MICRO_BATCH`), which costs speed, not memory.

References: Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models"
(arXiv 2205.05198) section 4 for activation bytes per token and layer; ZeRO (arXiv 1910.02054) for
the 4 + 4 + 8 bytes per parameter of float32 weights, gradients and Adam moments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from node.models.tiny import TINY_SPECS, TOKENIZER_VOCAB

if TYPE_CHECKING:
    from node.config import NodeConfig

GIB = 1024**3
DeviceKind = Literal["cuda", "mps", "cpu"]

OVERHEAD = 1.2
"""Allocator fragmentation, kernels' workspaces, temporaries the formula leaves out (calibrated, see above)."""
HEADROOM = 0.1
"""Share of the device's memory never planned for (CUDA context, other processes, the cache allocator)."""
CPU_PRESETS = ("tiny-0.5m", "tiny-1.5m", "tiny-6m", "tiny-16m")
"""On CPU smaller models learn more per second (../shared/sapo.md), so auto stops at tiny-16m."""
MIN_MICRO_BATCH = 4
"""auto lowers the update's micro-batch to fit a larger model, but not below this (slower than a smaller model)."""
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class ModelShape:
    """The architecture numbers memory depends on (a decoder-only transformer with a SwiGLU MLP)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool = True

    @property
    def kv_dim(self) -> int:
        return self.hidden // self.heads * self.kv_heads

    @property
    def parameters(self) -> int:
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * self.kv_dim
        layer = attention + 3 * self.hidden * self.intermediate + 2 * self.hidden
        head = 0 if self.tied else self.vocab * self.hidden
        return self.vocab * self.hidden + self.layers * layer + self.hidden + head

    def lora_parameters(self, r: int, targets: tuple[str, ...] = DEFAULT_LORA_TARGETS) -> int:
        """Adapter parameters: r x (in + out) per targeted linear layer."""
        sizes = {"q_proj": (self.hidden, self.hidden), "k_proj": (self.hidden, self.kv_dim),
                 "v_proj": (self.hidden, self.kv_dim), "o_proj": (self.hidden, self.hidden),
                 "gate_proj": (self.hidden, self.intermediate), "up_proj": (self.hidden, self.intermediate),
                 "down_proj": (self.intermediate, self.hidden)}
        return self.layers * sum(r * sum(sizes[t]) for t in targets if t in sizes)


PRESET_SHAPES: dict[str, ModelShape] = {
    **{name: ModelShape(s.hidden_size, s.num_layers, s.num_heads, s.num_kv_heads, s.intermediate_size, TOKENIZER_VOCAB)
       for name, s in TINY_SPECS.items()},
    # SmolLM2-135M-Instruct's config.json
    "smollm2-135m": ModelShape(hidden=576, layers=30, heads=9, kv_heads=3, intermediate=1536, vocab=49152),
}


@dataclass(frozen=True)
class RoundShape:
    """What one round asks of the model: rows updated and generated, and their length in tokens."""

    update_rows: int
    """Sequences in the update: (I + J) x L."""
    generate_rows: int
    """Sequences sampled together: I x L."""
    sequence_tokens: int
    """Prompt plus completion tokens of one sequence."""
    micro_batch: int
    """Sequences per forward/backward pass of the update."""
    compute_bytes: int = 2
    """Bytes per element of the compute dtype (2 for bfloat16 on cuda, 4 for float32)."""
    reference: bool = False
    """A KL term (algorithm.beta > 0): a frozen float32 copy of the starting weights, except with LoRA, whose
    reference is the same model with its adapters off."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of each part of a round's peak; `total` includes `OVERHEAD`."""

    weights: int
    sampler_copy: int
    gradients: int
    optimizer: int
    activations: int
    generation: int
    reference: int = 0

    @property
    def total(self) -> int:
        resident = self.weights + self.sampler_copy + self.gradients + self.optimizer + self.reference
        return int(OVERHEAD * (resident + max(self.activations, self.generation)))


def estimate(model: ModelShape, shape: RoundShape, lora_r: int | None = None) -> MemoryEstimate:
    """Peak bytes of one round for `model` at `shape`, with a full update or (lora_r set) LoRA adapters."""
    c = shape.compute_bytes
    trainable = model.parameters if lora_r is None else model.lora_parameters(lora_r)
    tokens = min(shape.micro_batch, shape.update_rows) * shape.sequence_tokens
    # per token and layer: residual, norms, q/k/v/attention output (~8h) and the SwiGLU gate, up, product (~4I)
    layer_activations = model.layers * tokens * (8 * model.hidden + 4 * model.intermediate) * c
    # logits in the compute dtype, their float32 copy, log-softmax temporaries and its gradient
    logits = tokens * model.vocab * (c + 12)
    autocast_copies = model.parameters * c if c < 4 else 0  # autocast keeps a cast of each weight per forward
    kv_cache = 2 * model.layers * model.kv_dim * shape.sequence_tokens * shape.generate_rows * c
    generation = kv_cache + shape.generate_rows * model.vocab * 4 * 3
    return MemoryEstimate(weights=4 * model.parameters, sampler_copy=model.parameters * c if c < 4 else 0,
                          gradients=4 * trainable, optimizer=8 * trainable,
                          activations=layer_activations + logits + autocast_copies, generation=generation,
                          reference=4 * model.parameters if shape.reference and lora_r is None else 0)


@dataclass(frozen=True)
class FitChoice:
    """`pick_model`'s answer and the sentence that explains it."""

    name: str
    lora: bool
    micro_batch: int
    """The update's micro-batch it fits at (the configured one, or halved down to `MIN_MICRO_BATCH`)."""
    estimate_bytes: int
    usable_bytes: int
    reason: str


def fits(model: ModelShape, shape: RoundShape, usable_bytes: int, lora_r: int | None = None) -> tuple[int, int] | None:
    """(micro-batch, bytes) at the largest micro-batch, from the configured one halving down to
    `MIN_MICRO_BATCH`, whose round fits `usable_bytes`; None if even that one does not."""
    micro = shape.micro_batch
    while True:
        need = estimate(model, replace(shape, micro_batch=micro), lora_r).total
        if need <= usable_bytes:
            return micro, need
        if micro <= MIN_MICRO_BATCH:
            return None
        micro = max(MIN_MICRO_BATCH, micro // 2)


def pick_model(total_bytes: int, kind: DeviceKind, shape: RoundShape, lora_r: int = 16, force_lora: bool = False,
               shapes: dict[str, ModelShape] | None = None) -> FitChoice:
    """The largest preset whose round fits `total_bytes` less `HEADROOM`; LoRA only if no full update fits
    (or always, with `force_lora`: the config already asks for LoRA).

    If nothing fits even with LoRA, the smallest preset is returned and the reason says so.
    """
    shapes = shapes or PRESET_SHAPES
    allowed = [n for n in shapes if kind != "cpu" or n in CPU_PRESETS]
    ranked = sorted(allowed, key=lambda n: shapes[n].parameters, reverse=True)
    usable = int(total_bytes * (1 - HEADROOM))
    where = f"{total_bytes / GIB:.1f} GiB {kind}"
    for lora in ((True,) if force_lora else (False, True)):
        for name in ranked:
            found = fits(shapes[name], shape, usable, lora_r if lora else None)
            if found is None:
                continue
            micro, need = found
            why = f"the largest preset whose {'LoRA (r=%d) ' % lora_r if lora else ''}update fits {where}: "
            why += f"~{need / GIB:.2f} GiB of {usable / GIB:.2f} GiB usable at micro-batch {micro}"
            if micro < shape.micro_batch:
                why += f" (lowered from {shape.micro_batch})"
            larger = ranked[: ranked.index(name)]
            if larger:
                smallest_need = estimate(shapes[larger[-1]], replace(shape, micro_batch=MIN_MICRO_BATCH)).total
                why += f"; {larger[-1]} would need ~{smallest_need / GIB:.2f} GiB even at micro-batch {MIN_MICRO_BATCH}"
            if kind == "cpu":
                why += "; on CPU auto stops at the tiny presets (they learn more per second)"
            return FitChoice(name, lora, micro, need, usable, why)
    smallest, micro = ranked[-1], min(shape.micro_batch, MIN_MICRO_BATCH)
    need = estimate(shapes[smallest], replace(shape, micro_batch=micro), lora_r).total
    return FitChoice(smallest, True, micro, need, usable,
                     f"nothing fits {where} ({smallest} with LoRA at micro-batch {micro} needs ~{need / GIB:.2f} GiB); "
                     f"trying {smallest} anyway (out-of-memory errors halve the micro-batch further)")


def device_memory(device: str) -> tuple[int, DeviceKind]:
    """(total bytes, kind) of the device a node would use: "auto", "cpu", "cuda", "cuda:N" or "mps".

    mps shares the host's memory, so it reports the host's total.
    """
    import torch

    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        index = int(device.split(":")[1]) if ":" in device else 0
        return torch.cuda.get_device_properties(index).total_memory, "cuda"
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mps = getattr(torch.backends, "mps", None)
    if device == "mps" or (device == "auto" and mps is not None and mps.is_available()):
        return host, "mps"
    return host, "cpu"


def round_shape(config: "NodeConfig", kind: DeviceKind, prompt_tokens: int = 128) -> RoundShape:
    """The `RoundShape` a node config asks for; prompts are assumed `prompt_tokens` long."""
    sampler, algorithm = config.sampler, config.algorithm
    compute = 2 if (config.model.dtype == "auto" and kind == "cuda") or config.model.dtype in ("bfloat16", "float16") else 4
    return RoundShape(update_rows=(sampler.local_i + sampler.external_j) * sampler.completions_l,
                      generate_rows=sampler.local_i * sampler.completions_l,
                      sequence_tokens=prompt_tokens + config.model.max_new_tokens,
                      micro_batch=algorithm.micro_batch, compute_bytes=compute, reference=algorithm.beta > 0)
