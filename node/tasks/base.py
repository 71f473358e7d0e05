"""Verifiable tasks addressed by reference: draw `TaskRef`s, rebuild question and answer from one.

A task is never trusted as text. It is a `TaskRef(generator, config, seed, index)`, and every node
rebuilds the question and the ground truth itself from a procedural generator. This module holds the
generic part (the draw, the bounds on a reference, the dataset cache); `reasoning_gym.py` opens the
generators themselves.

    >>> source = TaskSource(TasksConfig(dataset_seed=7))
    >>> task = source.draw("peer-a", round_index=0, count=1)[0]
    >>> source.rebuild(task.ref) == task
    True

The draw is a pure function of (dataset_seed, peer_id, round_index, i) through sha256, never Python's
salted `hash()`, so a receiver can recompute which tasks a sender was assigned in a round.

References: nanochat `tasks/common.py` (generic task work in one base); rl-swarm's genrl data
manager (the counter-example: it ships question text and answer and trusts both).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any, Callable, Protocol

from node.config import TasksConfig
from node.types import Task
from protocol.messages import TaskRef
from protocol.printable import peer_text

logger = logging.getLogger(__name__)

MAX_CONFIG_ITEMS = 16
"""Entries of a generator config a receiver accepts."""
MAX_CONFIG_TEXT = 64
"""Characters of one config key or string value."""
MAX_CONFIG_NUMBER = 10_000
"""Largest magnitude of a numeric config value: bounds the work one rebuild can cost."""
RESERVED_CONFIG_KEYS = frozenset({"seed", "size"})
"""Set by the task source itself, never by a reference's config."""
DATASET_CACHE_SIZE = 64
"""Distinct (generator, config, seed) datasets kept open."""


class TaskError(Exception):
    """A `TaskRef` cannot be rebuilt into a task.

    Raised by `TaskSource.rebuild` for references from peers (a verdict, counted by `reason`) and at
    construction for a bad local `TasksConfig`. Not raised for a task whose completions are wrong:
    that is a reward of 0, not an error. Reasons: unknown_generator, unsupported_generator,
    not_accepted, bad_config, seed_mismatch, index_out_of_range, free_text, generation_failed.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ItemSource(Protocol):
    """What a generator opens: reasoning-gym's `ProceduralDataset` shape."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    def score_answer(self, answer: str | None, entry: dict[str, Any]) -> float: ...


Opener = Callable[[str, Mapping[str, Any], int], ItemSource]
"""(generator name, config, seed) -> item source; raises TaskError."""


def config_key(config: Mapping[str, Any]) -> tuple[tuple[str, str, Any], ...]:
    """Check a generator config against the bounds and return a hashable, canonical key.

    The type name is part of the key because `True == 1` would otherwise share a cache entry.

    >>> config_key({"max_terms": 2, "min_terms": 2})
    (('max_terms', 'int', 2), ('min_terms', 'int', 2))
    """
    if not isinstance(config, Mapping) or len(config) > MAX_CONFIG_ITEMS:
        raise TaskError("bad_config", "config must be a mapping of at most %d items" % MAX_CONFIG_ITEMS)
    for key, value in config.items():
        if not isinstance(key, str) or not key.isidentifier() or len(key) > MAX_CONFIG_TEXT:
            raise TaskError("bad_config", f"bad key {key!r}")
        if key in RESERVED_CONFIG_KEYS:
            raise TaskError("bad_config", f"{key!r} is set by the task source")
        if not _bounded_scalar(value):
            raise TaskError("bad_config", f"{key}={value!r} is not a small scalar")
    return tuple(sorted((k, type(v).__name__, v) for k, v in config.items()))


def _bounded_scalar(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return len(value) <= MAX_CONFIG_TEXT
    if isinstance(value, (int, float)):
        return math.isfinite(value) and abs(value) <= MAX_CONFIG_NUMBER
    return False


def draw_point(dataset_seed: int, peer_id: str, round_index: int, i: int) -> tuple[float, int]:
    """The i-th draw of a peer in a round: (uniform in [0, 1) for the family, 64-bit int for the index)."""
    digest = hashlib.sha256(f"sapo-task|{dataset_seed}|{peer_id}|{round_index}|{i}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big")


class TaskSource:
    """Draws this node's tasks and rebuilds anyone's task from its reference.

    `accepted` limits which generators `rebuild` accepts (None: any generator the opener knows).
    Datasets are opened through a bounded LRU cache shared by the process (`open_items`).
    """

    def __init__(self, config: TasksConfig, *, accepted: Collection[str] | None = None) -> None:
        self.config = config
        self.accepted = None if accepted is None else frozenset(accepted)
        total = sum(f.weight for f in config.families)
        self._cumulative = [sum(f.weight for f in config.families[: k + 1]) / total
                            for k in range(len(config.families))]
        for family in config.families:  # a bad local config fails here, at start-up
            open_items(family.name, config_key(family.config), config.dataset_seed)

    def draw_refs(self, peer_id: str, round_index: int, count: int) -> list[TaskRef]:
        """References of the `count` tasks assigned to `peer_id` in `round_index`."""
        refs = []
        for i in range(count):
            u, raw_index = draw_point(self.config.dataset_seed, peer_id, round_index, i)
            family = self.config.families[_bisect(self._cumulative, u)]
            items = open_items(family.name, config_key(family.config), self.config.dataset_seed)
            index = raw_index % self.index_bound(items)
            refs.append(TaskRef(family.name, dict(family.config), self.config.dataset_seed, index))
        return refs

    def draw(self, peer_id: str, round_index: int, count: int) -> list[Task]:
        """The `count` tasks assigned to `peer_id` in `round_index`, rebuilt."""
        return [self.rebuild(ref) for ref in self.draw_refs(peer_id, round_index, count)]

    def index_bound(self, items: ItemSource) -> int:
        return min(self.config.dataset_size, len(items))

    def rebuild(self, ref: TaskRef) -> Task:
        """The task `ref` names, with the question and answer computed here. Raises TaskError."""
        if ref.kind == "free":
            raise TaskError("free_text", "free-text tasks cannot be rebuilt")
        if self.accepted is not None and ref.generator not in self.accepted:
            raise TaskError("not_accepted", ref.generator)
        if ref.seed != self.config.dataset_seed:
            raise TaskError("seed_mismatch", f"seed {ref.seed} != swarm dataset_seed {self.config.dataset_seed}")
        items = open_items(ref.generator, config_key(ref.config), ref.seed)
        if not isinstance(ref.index, int) or not 0 <= ref.index < self.index_bound(items):
            raise TaskError("index_out_of_range", f"index {ref.index} not in [0, {self.index_bound(items)})")
        return make_task(ref, _generate(items, ref))


def make_task(ref: TaskRef, entry: dict[str, Any]) -> Task:
    """A `Task` from a generator item, with the question text exactly as the generator wrote it."""
    answer = entry.get("answer")
    return Task(ref=ref, question=str(entry["question"]), answer="" if answer is None else str(answer), entry=entry)


def _generate(items: ItemSource, ref: TaskRef) -> dict[str, Any]:
    try:
        return items[ref.index]
    except Exception as exc:  # a generator bug on one index is a verdict on that task, not a crash
        logger.debug("generator %s failed at index %d", peer_text(ref.generator), ref.index, exc_info=True)
        raise TaskError("generation_failed", f"{ref.generator}[{ref.index}]: {exc}") from exc


def _bisect(cumulative: list[float], u: float) -> int:
    for k, edge in enumerate(cumulative):
        if u < edge:
            return k
    return len(cumulative) - 1


def score_answer(task: Task, answer: str | None) -> float:
    """The task's own generator scores `answer` against the rebuilt item (reasoning-gym's scorer)."""
    items = open_items(task.ref.generator, config_key(task.ref.config), task.ref.seed)
    return float(items.score_answer(answer, task.entry))


@lru_cache(maxsize=DATASET_CACHE_SIZE)
def open_items(generator: str, key: tuple[tuple[str, str, Any], ...], seed: int) -> ItemSource:
    """Open (and cache) one generator's dataset. `key` comes from `config_key`. Raises TaskError."""
    from node.tasks import opener_for  # the registry lives in the package's __init__

    return opener_for(generator)(generator, {k: v for k, _, v in key}, seed)
