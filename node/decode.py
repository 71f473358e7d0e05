"""The decode loops behind `Policy.generate`: eager (a growing KV cache) and compiled (a static KV cache
and a torch.compile'd decode step, CUDA graphs on cuda).

    decoder = build_decoder("compiled", device)        # once per process (the Policy holds it)
    tokens = decoder.decode(model, prompts, uniforms, sampling)   # [B, <=steps] ids, pad after an end token
    decoder.take_compile_seconds()                      # compile time spent since the last call

Both loops draw token t of row b from `uniforms[b, t]` with the same inverse-CDF sampler, so for the
same seeds they give the same tokens, up to float rounding of the logits (the compiled step attends
over a fixed-size cache with the unused tail masked, and its kernels are fused differently).

The eager loop prefills each distinct prompt once and gives every row of that prompt a copy of its keys
and values (a question's L completions share one prompt). On a CPU, where a tiny model's prompt is most
of the tokens it runs, this made generation about 4x cheaper. The compiled loop, built for GPUs, where a
long decode outweighs prefill, still prefills every row.

The compiled loop pays its compile once per process and (batch, cache length): the cache length is
rounded up to a multiple of `CACHE_BUCKET` tokens and only grows, and a smaller last micro-batch is
padded to the full one, so a node's rounds reuse one compiled step. Prefill runs eagerly (prompt lengths vary); only
the one-token step is compiled, as in transformers' static-cache recipe. On cuda, mode
"reduce-overhead" records the step as a CUDA graph: one launch per token instead of one per kernel,
which is where a small model's decode time goes (17 ms per step with HF defaults on an H200,
../shared/baselines.md).

References: transformers `StaticCache` and its torch.compile guide; gpt-fast `generate.py` (static
cache, compiled decode_one_token, eager prefill); nanochat `engine.py` (our loop's shape).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from dataclasses import dataclass
from typing import Callable

import torch
import transformers
from transformers import DynamicCache, StaticCache

logger = logging.getLogger(__name__)

CACHE_BUCKET = 64
"""The compiled step's cache length is prompt + new tokens rounded up to this (fewer recompiles)."""
DONE_CHECK_EVERY = 8
"""The compiled loop asks "are all rows done?" (a device sync) every this many steps, not every step."""


@dataclass(frozen=True)
class Sampling:
    """What the loop needs besides the model: how to sample, which ids stop a row, what pads it."""

    sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    """(last logits [B, V], uniforms [B]) -> token ids [B]."""
    stop_ids: tuple[int, ...]
    pad_id: int


class EagerDecoder:
    """One forward per token over a `DynamicCache` that grows with the sequence."""

    def take_compile_seconds(self) -> float:
        return 0.0

    def release(self) -> None:
        """Nothing is held between calls."""

    def decode(self, model: transformers.PreTrainedModel, prompts: list[list[int]], uniforms: torch.Tensor,
               sampling: Sampling) -> torch.Tensor:
        """[B, <=steps] sampled ids (pad after a row's end token)."""
        device = uniforms.device
        distinct: dict[tuple[int, ...], int] = {}  # a question's L rows share one prompt: prefill it once
        rows = torch.tensor([distinct.setdefault(tuple(p), len(distinct)) for p in prompts], device=device)
        ids, mask = left_pad([list(p) for p in distinct], sampling.pad_id, device)
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        kv = DynamicCache(config=model.config)  # filled in place by each forward
        cache = {cache_kwarg(model): kv}
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1, **cache)
        if len(distinct) < len(prompts):  # every row gets its prompt's keys and values, copied, then grows alone
            kv.reorder_cache(rows)
        logits, mask, position = out.logits[rows, -1, :], mask[rows], positions[rows, -1:]
        state = _Rows(sampling, len(prompts), device)
        for step in range(uniforms.shape[1]):
            token = state.pick(logits, uniforms[:, step])
            if bool(state.done.all()) or step == uniforms.shape[1] - 1:
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            position = position + 1
            logits = model(input_ids=token[:, None], attention_mask=mask, position_ids=position, use_cache=True,
                           **cache).logits[:, -1, :]
        return state.tokens()


class CompiledDecoder:
    """A static KV cache per (batch, cache length), kept across calls, and a compiled one-token step."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mode = "reduce-overhead" if device.type == "cuda" else "default"
        self._step = torch.compile(_forward_last_logits, mode=self.mode, dynamic=False)
        self._caches: dict[tuple[int, int], tuple[StaticCache, int]] = {}
        self._compile_s = 0.0

    def __deepcopy__(self, memo: dict) -> "CompiledDecoder":
        return CompiledDecoder(self.device)  # compiled graphs and caches are per object, never copied

    def take_compile_seconds(self) -> float:
        """Seconds spent compiling (warm-ups of new shapes) since the last call."""
        seconds, self._compile_s = self._compile_s, 0.0
        return seconds

    def release(self) -> None:
        """Drop the caches and compiled graphs (after an out-of-memory error); the next call recompiles."""
        self._caches.clear()
        torch._dynamo.reset()
        self._step = torch.compile(_forward_last_logits, mode=self.mode, dynamic=False)

    def decode(self, model: transformers.PreTrainedModel, prompts: list[list[int]], uniforms: torch.Tensor,
               sampling: Sampling, batch: int | None = None) -> torch.Tensor:
        """[len(prompts), <=steps] sampled ids; rows are padded to `batch` (default: len(prompts)) to reuse
        the compiled step of a full micro-batch."""
        rows, steps = uniforms.shape
        batch = max(batch or rows, rows)
        if batch > rows:  # dummy rows repeat the first one; their tokens are dropped
            prompts = prompts + [prompts[0]] * (batch - rows)
            uniforms = torch.cat([uniforms, uniforms[:1].expand(batch - rows, -1)])
        width = max(map(len, prompts))
        cache, length = self._cache(model, batch, -(-(width + steps) // CACHE_BUCKET) * CACHE_BUCKET)
        ids, prompt_mask = left_pad(prompts, sampling.pad_id, self.device)
        mask = torch.ones(batch, length, dtype=prompt_mask.dtype, device=self.device)
        mask[:, :width] = prompt_mask  # future columns are 1: the causal mask hides what is not written yet
        positions = (prompt_mask.cumsum(-1) - 1).clamp_(min=0)
        kwarg = cache_kwarg(model)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                       logits_to_keep=1, **{kwarg: cache}).logits[:, -1, :]
        position = positions[:, -1:].clone()
        state = _Rows(sampling, batch, self.device)
        with _differentiating_guards_only():
            for step in range(steps):
                token = state.pick(logits, uniforms[:, step])
                if step == steps - 1 or (step % DONE_CHECK_EVERY == DONE_CHECK_EVERY - 1 and bool(state.done.all())):
                    break
                position += 1
                logits = self._call(model, cache, kwarg, token[:, None], position, mask)
        return state.tokens()[:rows]

    def _call(self, model, cache, kwarg, token, position, mask) -> torch.Tensor:
        if self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's logits were consumed
        return self._step(model, cache, kwarg, token, position, mask).clone()

    def _cache(self, model: transformers.PreTrainedModel, batch: int, length: int) -> tuple[StaticCache, int]:
        """A reset cache of this batch holding at least `length` tokens, and its length. The cache only grows:
        a round with shorter prompts reuses the longer one (masked), so rounds do not flip between shapes."""
        key = (id(model), batch)
        held = self._caches.get(key)
        if held is None or held[1] < length:
            self._caches.clear()  # one shape at a time: a node's rounds all have the same batch
            held = (StaticCache(config=model.config, max_cache_len=length), length)
            self._caches[key] = held
            self._warm_up(model, *held, batch)
        held[0].reset()
        return held

    def _warm_up(self, model, cache: StaticCache, length: int, batch: int) -> None:
        """Compile (and on cuda record) the step on throwaway tokens, so the compile time is measured apart."""
        started = time.perf_counter()
        kwarg = cache_kwarg(model)
        token = torch.zeros(batch, 1, dtype=torch.long, device=self.device)
        mask = torch.ones(batch, length, dtype=torch.long, device=self.device)
        model(input_ids=token, attention_mask=mask, position_ids=token, use_cache=True, logits_to_keep=1, **{kwarg: cache})
        for step in range(3):  # cudagraph trees: warm-up run, record, first replay
            self._call(model, cache, kwarg, token, token + step + 1, mask)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - started
        self._compile_s += seconds
        logger.info("compiled the decode step for batch %d, cache %d tokens in %.1f s (%s; once per process and shape)",
                    batch, length, seconds, self.mode)


def build_decoder(kind: str, device: torch.device) -> EagerDecoder | CompiledDecoder:
    """The decoder named by `model.generation` ("eager" or "compiled")."""
    if kind == "compiled":
        if int(transformers.__version__.split(".")[0]) < 5:
            raise ValueError(f"model.generation: compiled needs transformers >= 5 (found {transformers.__version__})")
        return CompiledDecoder(device)
    if kind == "eager":
        return EagerDecoder()
    raise ValueError(f"model.generation must be eager or compiled, not {kind!r}")


def _differentiating_guards_only() -> contextlib.AbstractContextManager:
    """Skip dynamo's full guard check on each step (milliseconds per call on a busy CPU, more than a small
    model's whole step on a GPU). Safe here: the step of this shape was warmed up by `_warm_up` under the
    default stance, and between steps only the values inside the same tensors change."""
    set_stance = getattr(torch.compiler, "set_stance", None)  # torch >= 2.6
    if set_stance is None:
        return contextlib.nullcontext()
    return set_stance("default", skip_guard_eval_unsafe=True)


def _forward_last_logits(model, cache, kwarg: str, token, position, mask) -> torch.Tensor:
    return model(input_ids=token, attention_mask=mask, position_ids=position, use_cache=True,
                 **{kwarg: cache}).logits[:, -1, :]


class _Rows:
    """Sampled tokens so far and which rows are done; a done row gets pad tokens."""

    def __init__(self, sampling: Sampling, rows: int, device: torch.device) -> None:
        self.sampling = sampling
        self.stop = torch.tensor(sorted(sampling.stop_ids), device=device)
        self.done = torch.zeros(rows, dtype=torch.bool, device=device)
        self.sampled: list[torch.Tensor] = []

    def pick(self, logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        token = self.sampling.sample(logits, uniforms).masked_fill(self.done, self.sampling.pad_id)
        self.sampled.append(token)
        self.done |= torch.isin(token, self.stop)
        return token

    def tokens(self) -> torch.Tensor:
        return torch.stack(self.sampled, dim=1)


def cache_kwarg(model: transformers.PreTrainedModel) -> str:
    """transformers 5.x renamed `past_key_values` to `cache` (the old name warns, then goes away). A peft wrapper
    passes keyword arguments on to its base model, whose signature decides."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def left_pad(prompts: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) [B, W], left-padded so every row's next token lands in the same column."""
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, p in enumerate(prompts):
        ids[r, width - len(p):] = torch.tensor(p)
        mask[r, width - len(p):] = 1
    return ids.to(device), mask.to(device)
