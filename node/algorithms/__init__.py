"""Local learning algorithms, by registry key (`algorithm.type` in the config).

    >>> sorted(ALGORITHMS)
    ['dr_grpo', 'grpo', 'reinforce']

A third-party algorithm needs no change here. Either call `register_algorithm("name", MyAlgorithm)`
before the node starts, or ship a package that declares an entry point:

    [project.entry-points."sapo_swarm.algorithms"]
    my_algo = "my_package.module:MyAlgorithm"

`build_algorithm` looks in the registry first, then in the entry points of that group. The target is
an `Algorithm` subclass (or any callable `(config, policy) -> Algorithm`).

References: prime-rl `orchestrator/algo/__init__.py` (dict registry + build function).
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any, Callable

from node.algorithms.base import Algorithm, group_mean_std, masked_mean
from node.algorithms.dr_grpo import DrGRPOAlgorithm
from node.algorithms.grpo import GRPOAlgorithm
from node.algorithms.reinforce import ReinforceAlgorithm
from node.config import AlgorithmConfig

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sapo_swarm.algorithms"

AlgorithmFactory = Callable[[AlgorithmConfig, Any], Algorithm]

ALGORITHMS: dict[str, AlgorithmFactory] = {
    "grpo": GRPOAlgorithm,
    "dr_grpo": DrGRPOAlgorithm,
    "reinforce": ReinforceAlgorithm,
}


def register_algorithm(name: str, factory: AlgorithmFactory) -> AlgorithmFactory:
    """Register `factory` under `name` (usable as a decorator's target: returns it unchanged)."""
    ALGORITHMS[name] = factory
    return factory


def build_algorithm(config: AlgorithmConfig, policy: Any) -> Algorithm:
    """The algorithm named by `config.type`, built over `policy`. Unknown names raise ValueError."""
    factory = ALGORITHMS.get(config.type) or _from_entry_point(config.type)
    algorithm = factory(config, policy)
    if not isinstance(algorithm, Algorithm):
        raise TypeError(f"algorithm {config.type!r} built a {type(algorithm).__name__}, not an Algorithm")
    return algorithm


def _from_entry_point(name: str) -> AlgorithmFactory:
    found = entry_points(group=ENTRY_POINT_GROUP)
    for entry in found:
        if entry.name == name:
            logger.info("algorithm %r from entry point %s", name, entry.value)
            return entry.load()
    known = sorted(set(ALGORITHMS) | {entry.name for entry in found})
    raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(known)} "
                     f"(register one with register_algorithm or an entry point in {ENTRY_POINT_GROUP!r})")


__all__ = [
    "ALGORITHMS",
    "ENTRY_POINT_GROUP",
    "Algorithm",
    "DrGRPOAlgorithm",
    "GRPOAlgorithm",
    "ReinforceAlgorithm",
    "build_algorithm",
    "group_mean_std",
    "masked_mean",
    "register_algorithm",
]
