"""Checks the SAPO table rests on: paired question streams and a tokenizer that covers the RL tasks.

    >>> from benchmarks.sapo.sim import SPARSE
    >>> prefix_stable(SPARSE.rl_families)
    True

- `prefix_stable`: `TaskSource.draw(peer, r, 16)[:I] == draw(peer, r, I)`, so every configuration of a
  seed trains on the first I questions of one stream (if it failed, the benchmark would have to draw
  16 and slice).
- `tokenizer_coverage`: the tiny tokenizer is trained on the warm-start task text only; the sparse
  regime asks 3-term questions it never saw. Counts unknown tokens and failed round trips over
  question + answer text of RL tasks.
"""

from __future__ import annotations

from typing import Any

from node.config import ModelConfig, TaskFamilyConfig, TasksConfig
from node.tasks import TaskSource


def _source(families: tuple) -> TaskSource:
    return TaskSource(TasksConfig(families=[TaskFamilyConfig(name=n, config=c) for n, c in families]))


def prefix_stable(families: tuple, peers: int = 4, rounds: int = 5, total: int = 32) -> bool:
    source = _source(families)
    for p in range(peers):
        for r in range(rounds):
            full = source.draw_refs(f"peer-{p}", r, total)
            if any(source.draw_refs(f"peer-{p}", r, i) != full[:i] for i in (1, 4, 8, 12, 16)):
                return False
    return True


def tokenizer_coverage(model: ModelConfig, warm_families: tuple, rl_families: tuple, samples: int = 2000) -> dict[str, Any]:
    from node.policy import Policy

    tokenizer = Policy.load(model, seed=0, families=warm_families).tokenizer
    tasks = _source(rl_families).draw("coverage", 0, samples)
    unk = tokenizer.unk_token_id
    unknown, broken, lengths = 0, 0, []
    for task in tasks:
        for text in (task.question, task.answer):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            unknown += sum(t == unk for t in ids)
            broken += tokenizer.decode(ids) != text
        lengths.append(len(tokenizer(task.answer, add_special_tokens=False)["input_ids"]))
    return {"texts": 2 * len(tasks), "unknown_tokens": unknown, "round_trip_failures": broken,
            "vocab_size": len(tokenizer), "max_answer_tokens": max(lengths),
            "answer_fits_new_tokens": max(lengths) + 1 <= model.max_new_tokens,
            "example": tasks[0].question + " " + tasks[0].answer}
