"""Supervised warm start of a tiny model on generated tasks, and its evaluation.

An untrained tiny model scores 0, and RL from zero reward learns nothing. A short supervised pass on
(question, answer) pairs from reasoning-gym gives it a few correct answers to reinforce. It stops
before the model is good (step 200 of a 400-step schedule) so that RL has room to improve.

    >>> pairs = sample_pairs([("chain_sum", {"min_terms": 2, "max_terms": 2, "max_digits": 1})], seed=0, count=1)
    >>> pairs[0][1]
    '-4'

References: shared/sapo.md "A learning recipe measured on this CPU" (AdamW, batch 32, lr 2e-3, 30
warm-up steps, cosine over 400, loss on answer tokens only); nanochat `scripts/chat_sft.py`.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Sequence

import reasoning_gym
import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from node.models.tiny import Family, TinySpec

logger = logging.getLogger(__name__)

IGNORE = -100
EVAL_TASKS = 128
EVAL_NEW_TOKENS = 6
LOG_EVERY = 50


def sample_entries(families: Sequence[Family], seed: int, count: int) -> list[tuple[Any, dict]]:
    """`count` (dataset, entry) pairs, families interleaved in order."""
    per_family = math.ceil(count / len(families))
    sets = [reasoning_gym.create_dataset(name, seed=seed, size=per_family, **cfg) for name, cfg in families]
    return [(sets[i % len(sets)], sets[i % len(sets)][i // len(sets)]) for i in range(count)]


def sample_pairs(families: Sequence[Family], seed: int, count: int) -> list[tuple[str, str]]:
    """`count` (question, answer) texts."""
    return [(entry["question"], str(entry["answer"])) for _, entry in sample_entries(families, seed, count)]


def prompt_text(tokenizer: PreTrainedTokenizerBase, question: str) -> str:
    """The question as one user turn plus the opening of the assistant turn."""
    messages = [{"role": "user", "content": question}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def encode_pairs(tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids + end-of-turn id) per pair, tokenized apart as generation sees them."""
    prompts = tokenizer([prompt_text(tokenizer, q) for q, _ in pairs], add_special_tokens=False)["input_ids"]
    answers = tokenizer([a for _, a in pairs], add_special_tokens=False)["input_ids"]
    return [(p, a + [tokenizer.eos_token_id]) for p, a in zip(prompts, answers)]


def _collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(p) + len(a) for p, a in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE)
    mask = torch.zeros_like(ids)
    for row, (p, a) in enumerate(examples):
        n = len(p) + len(a)
        ids[row, :n] = torch.tensor(p + a)
        labels[row, len(p) : n] = torch.tensor(a)  # loss on the answer and its end token only
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _lr_factor(step: int, spec: TinySpec) -> float:
    if step < spec.warmup_steps:
        return (step + 1) / spec.warmup_steps
    progress = min(1.0, (step - spec.warmup_steps) / max(1, spec.schedule_steps - spec.warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, families: Sequence[Family],
          spec: TinySpec, seed: int) -> dict[str, float]:
    """Run `spec.warm_start_steps` AdamW steps on fresh tasks; returns the final loss."""
    examples = encode_pairs(tokenizer, sample_pairs(families, seed, spec.warm_start_steps * spec.batch_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, spec))
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(spec.warm_start_steps):
        batch = _collate(examples[step * spec.batch_size : (step + 1) * spec.batch_size], tokenizer.pad_token_id)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % LOG_EVERY == 0:
            logger.info("warm start step %d/%d: loss %.3f", step + 1, spec.warm_start_steps, loss.item())
    model.eval()
    return {"steps": float(spec.warm_start_steps), "final_loss": loss.item()}


@torch.no_grad()
def evaluate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, families: Sequence[Family],
             seed: int, count: int = EVAL_TASKS) -> dict[str, float]:
    """Sampled reward (temperature 1) and greedy accuracy on `count` held-out tasks."""
    tasks = sample_entries(families, seed, count)
    prompts = [p for p, _ in encode_pairs(tokenizer, [(e["question"], "") for _, e in tasks])]
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(prompts):  # left padding: every row's next token comes at the same column
        ids[row, width - len(p) :] = torch.tensor(p)
        mask[row, width - len(p) :] = 1
    scores = {}
    for key, sampling in (("greedy_accuracy", {"do_sample": False}),
                          ("sampled_reward", {"do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": 0})):
        torch.manual_seed(seed)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=EVAL_NEW_TOKENS, **sampling)
        texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        scores[key] = sum(ds.score_answer(t.strip(), e) for (ds, e), t in zip(tasks, texts)) / len(tasks)
    return scores
