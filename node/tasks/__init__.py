"""Verifiable tasks: draw, rebuild from a `TaskRef`, and score with the generator's own verifier.

    >>> source = build_task_source(TasksConfig())
    >>> [task.ref.generator for task in source.draw("peer-a", round_index=0, count=2)]
    ['chain_sum', 'chain_sum']

Generators are looked up by name: first in `GENERATORS` (extra generators registered with
`register_generator`, e.g. a toy task in tests), then among reasoning-gym's datasets.
"""

from __future__ import annotations

from node.config import TasksConfig
from node.tasks.base import (
    ItemSource,
    Opener,
    TaskError,
    TaskSource,
    config_key,
    draw_point,
    make_task,
    open_items,
    score_answer,
)
from node.tasks.reasoning_gym import UNSUPPORTED, is_reasoning_gym, open_reasoning_gym
from node.registry import register
from node.types import Task

GENERATORS: dict[str, Opener] = {}
"""Generators that are not reasoning-gym datasets, by name. Receivers must register the same ones."""


def register_generator(name: str, opener: Opener) -> None:
    """Make `name` rebuildable with `opener(name, config, seed) -> ItemSource` (overrides reasoning-gym)."""
    register(GENERATORS, name, opener)
    open_items.cache_clear()


def opener_for(generator: str) -> Opener:
    """The opener of `generator`; unknown names raise TaskError("unknown_generator")."""
    if generator in GENERATORS:
        return GENERATORS[generator]
    if is_reasoning_gym(generator):
        return open_reasoning_gym
    raise TaskError("unknown_generator", generator)


def build_task_source(config: TasksConfig) -> TaskSource:
    """The node's task source (raises TaskError at start-up for a family that cannot be opened).

    Peers' tasks are rebuilt only for `config.accept_generators` (default: this node's own families).
    """
    accepted = config.accept_generators
    if accepted is None:
        accepted = [family.name for family in config.families]
    return TaskSource(config, accepted=None if "*" in accepted else accepted)


__all__ = [
    "GENERATORS",
    "UNSUPPORTED",
    "ItemSource",
    "Opener",
    "Task",
    "TaskError",
    "TaskSource",
    "build_task_source",
    "config_key",
    "draw_point",
    "make_task",
    "opener_for",
    "register_generator",
    "score_answer",
]
