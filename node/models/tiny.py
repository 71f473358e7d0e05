"""The tiny model family: a Qwen2 built from a config, its tokenizer trained here, warm-started here.

Everything is made locally and deterministically from (spec, task families, seed), so a node needs
no download. The tokenizer is byte-level BPE with one token per digit, trained on task text *without*
the 256-byte initial alphabet: bytes that never occur get no token, so a warm-started policy cannot
put probability mass on them (with the full alphabet ~250 dead tokens made GRPO's first steps lower
the probability of correct answers; see shared/sapo.md). Chat format, one turn each:

    <|user|>State the final answer to the following arithmetic problem: 4 - 1 =<|end|><|assistant|>3<|end|>

    >>> spec = TINY_SPECS["tiny-0.5m"]
    >>> (spec.hidden_size, spec.num_layers, spec.num_heads, spec.num_kv_heads)
    (128, 2, 4, 2)

References: shared/sapo.md "A learning recipe measured on this CPU"; HF tokenizers' BPE trainer;
transformers `Qwen2Config`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from node.models import warm_start

logger = logging.getLogger(__name__)

PAD, UNK, USER, ASSISTANT, END = "<|pad|>", "<unk>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS = [PAD, UNK, USER, ASSISTANT, END]
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}" + USER + "{{ m['content'] }}" + END + "{% endif %}"
    "{% if m['role'] == 'assistant' %}" + ASSISTANT + "{{ m['content'] }}" + END + "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT + "{% endif %}"
)
TOKENIZER_VOCAB = 105
"""Upper bound; on 2-term chain_sum the trainer runs out of merges at ~83 tokens."""
TOKENIZER_TEXTS = 2000
"""Tasks per family whose question and answer train the tokenizer (well under a second)."""

Family = tuple[str, dict[str, Any]]
DEFAULT_FAMILIES: tuple[Family, ...] = (
    ("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}),
)


@dataclass(frozen=True)
class TinySpec:
    """Architecture and warm-start recipe of one tiny preset (all of it goes into the cache hash)."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    warm_start_steps: int = 200
    """Supervised steps actually run. Stopping early leaves RL room: at 200 tiny-0.5m samples ~0.39
    reward and answers ~0.43-0.57 greedily, what shared/sapo.md's recipe reports at its step 250."""
    schedule_steps: int = 400
    """Length of the cosine schedule (the recipe's full warm start)."""
    warmup_steps: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    max_positions: int = 512


# Larger presets get half the learning rate: at 2e-3 tiny-1.5m's loss spiked and it ended at 0.12
# sampled reward / 0.09 greedy after 200 steps (tiny-6m: 0.12 / 0.10); at 1e-3 tiny-1.5m reached 0.25 / 0.24.
TINY_SPECS: dict[str, TinySpec] = {
    "tiny-0.5m": TinySpec(hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=512),
    "tiny-1.5m": TinySpec(hidden_size=192, num_layers=3, num_heads=4, num_kv_heads=2, intermediate_size=640, lr=1e-3),
    "tiny-6m": TinySpec(hidden_size=256, num_layers=6, num_heads=8, num_kv_heads=4, intermediate_size=1024, lr=1e-3),
    "tiny-16m": TinySpec(hidden_size=384, num_layers=7, num_heads=6, num_kv_heads=2, intermediate_size=1536, lr=1e-3),
}


def train_tokenizer(texts: Sequence[str]) -> PreTrainedTokenizerFast:
    """Byte-level BPE over `texts` with single-digit splitting and no unused byte alphabet."""
    tok = Tokenizer(models.BPE(unk_token=UNK))
    # Digits first: every digit is its own token, so numbers are spelled out the same way everywhere.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    # No `initial_alphabet=ByteLevel.alphabet()`: only bytes seen in the text get a token.
    trainer = trainers.BpeTrainer(vocab_size=TOKENIZER_VOCAB, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, unk_token=UNK, eos_token=END, padding_side="right"
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_model(spec: TinySpec, tokenizer: PreTrainedTokenizerFast, seed: int) -> Qwen2ForCausalLM:
    """A freshly initialised Qwen2 sized by `spec`; the same seed gives the same weights."""
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    return model


def tiny_recipe(preset: str, spec: TinySpec, families: Sequence[Family], seed: int) -> dict[str, Any]:
    """Everything that determines the built weights: the cache key."""
    return {
        "preset": preset,
        "spec": dataclasses.asdict(spec),
        "families": [[name, dict(sorted(cfg.items()))] for name, cfg in families],
        "seed": seed,
        "format": 1,  # bump when the chat format or tokenizer recipe changes
    }


def build_tiny(out_dir: Path, preset: str, spec: TinySpec, families: Sequence[Family], seed: int) -> dict[str, float]:
    """Train tokenizer, build and warm-start the model, save both to `out_dir`; returns metrics."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from more; idle OpenMP threads spin on a busy host
    try:
        return _build_tiny(out_dir, preset, spec, families, seed)
    finally:
        torch.set_num_threads(threads)


def _build_tiny(out_dir: Path, preset: str, spec: TinySpec, families: Sequence[Family], seed: int) -> dict[str, float]:
    started, cpu_started = time.perf_counter(), time.process_time()
    pairs = warm_start.sample_pairs(families, seed=seed, count=TOKENIZER_TEXTS * len(families))
    tokenizer = train_tokenizer([text for pair in pairs for text in pair])
    model = build_model(spec, tokenizer, seed)
    params = sum(p.numel() for p in model.parameters())
    logger.info("%s: vocab %d, %.2fM parameters; warm start %d steps", preset, len(tokenizer), params / 1e6,
                spec.warm_start_steps)
    metrics = warm_start.train(model, tokenizer, families, spec, seed)
    metrics.update(warm_start.evaluate(model, tokenizer, families, seed=seed + 1))
    metrics.update(parameters=params, vocab=len(tokenizer), wall_s=time.perf_counter() - started,
                   cpu_s=time.process_time() - cpu_started)
    logger.info("%s built: %s", preset, json.dumps({k: round(float(v), 3) for k, v in metrics.items()}))
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "warm_start.json").write_text(json.dumps(metrics, indent=2))
    return metrics
