"""Local learning algorithms, by registry key (`algorithm.type` in the config).

    >>> sorted(ALGORITHMS)
    ['dr_grpo', 'grpo', 'reinforce']
    >>> algorithm_options("dr_grpo").model_fields["max_completion_tokens"].description.split(";")[0]
    "Constant each sequence's token-loss sum is divided by (the paper's generation budget)"

An entry is an `AlgorithmEntry`: how to build the algorithm and the model of its options. Built-in
algorithms are imported when built, so this registry (which config validation reads) loads without
torch. A third-party algorithm needs no change here. Either call `register_algorithm("name",
MyAlgorithm)` before the config is loaded, or ship a package that declares an entry point:

    [project.entry-points."sapo_swarm.algorithms"]
    my_algo = "my_package.module:MyAlgorithm"

The target is an `Algorithm` subclass (or any callable `(config, policy) -> Algorithm`); its options
model is its `Options` attribute (a `node.registry.PluginOptions` subclass; none: no options accepted).
`algorithm_options` and `build_algorithm` look in the registry first, then in that entry-point group.

References: prime-rl `orchestrator/algo/__init__.py` (dict registry + build function).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable

from node.algorithms.options import DrGRPOOptions, GRPOOptions, ReinforceOptions
from node.registry import NoOptions, PluginOptions, UnknownPluginError, lookup, register

if TYPE_CHECKING:
    from node.algorithms.base import Algorithm
    from node.config import AlgorithmConfig

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sapo_swarm.algorithms"

AlgorithmFactory = Callable[["AlgorithmConfig", Any], "Algorithm"]


@dataclass(frozen=True)
class AlgorithmEntry:
    """One entry of `ALGORITHMS`."""

    build: AlgorithmFactory
    """(config, policy) -> Algorithm."""
    options: type[PluginOptions] = NoOptions
    """The model `algorithm.options` is validated against."""


def _imported(module: str, name: str) -> AlgorithmFactory:
    """A factory that imports `module.name` (and so torch) only when an algorithm is built."""
    def build(config: AlgorithmConfig, policy: Any) -> Algorithm:
        return getattr(importlib.import_module(module), name)(config, policy)

    return build


ALGORITHMS: dict[str, AlgorithmEntry] = {
    "grpo": AlgorithmEntry(_imported("node.algorithms.grpo", "GRPOAlgorithm"), GRPOOptions),
    "dr_grpo": AlgorithmEntry(_imported("node.algorithms.dr_grpo", "DrGRPOAlgorithm"), DrGRPOOptions),
    "reinforce": AlgorithmEntry(_imported("node.algorithms.reinforce", "ReinforceAlgorithm"), ReinforceOptions),
}


def register_algorithm(name: str, factory: AlgorithmFactory, options: type[PluginOptions] | None = None) -> AlgorithmFactory:
    """Register `factory` under `name` with its options model (default: `factory.Options`, else none);
    returns `factory` unchanged."""
    register(ALGORITHMS, name, _entry(factory, options))
    return factory


def algorithm_options(name: str) -> type[PluginOptions]:
    """The options model of algorithm `name` (registry, then entry points); unknown names raise."""
    return _find(name).options


def algorithm_names() -> list[str]:
    """Every name `algorithm.type` accepts: the registry's and the entry points'."""
    return sorted(set(ALGORITHMS) | {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def build_algorithm(config: AlgorithmConfig, policy: Any) -> Algorithm:
    """The algorithm named by `config.type`, built over `policy`. Unknown names raise UnknownPluginError."""
    from node.algorithms.base import Algorithm

    algorithm = _find(config.type).build(config, policy)
    if not isinstance(algorithm, Algorithm):
        raise TypeError(f"algorithm {config.type!r} built a {type(algorithm).__name__}, not an Algorithm")
    return algorithm


def _entry(factory: AlgorithmFactory, options: type[PluginOptions] | None) -> AlgorithmEntry:
    return AlgorithmEntry(factory, options or getattr(factory, "Options", NoOptions))


def _find(name: str) -> AlgorithmEntry:
    if name in ALGORITHMS:
        return ALGORITHMS[name]
    found = entry_points(group=ENTRY_POINT_GROUP)
    for entry in found:
        if entry.name == name:
            logger.info("algorithm %r from entry point %s", name, entry.value)
            return _entry(entry.load(), None)
    try:
        return lookup(ALGORITHMS, name, "algorithm", also_known=[entry.name for entry in found])
    except UnknownPluginError as exc:
        raise UnknownPluginError(f"{exc} (register one with register_algorithm or an entry point in "
                                 f"{ENTRY_POINT_GROUP!r})") from None


_LAZY = {"Algorithm": "base", "group_mean_std": "base", "masked_mean": "base", "positive_for_external": "base",
         "GRPOAlgorithm": "grpo", "DrGRPOAlgorithm": "dr_grpo", "ReinforceAlgorithm": "reinforce"}


def __getattr__(name: str) -> object:
    """The torch-backed names (the plug-in API: `Algorithm`, `group_mean_std`, ...), imported on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"node.algorithms.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'node.algorithms' has no attribute {name!r}")


__all__ = [
    "ALGORITHMS", "ENTRY_POINT_GROUP", "Algorithm", "AlgorithmEntry", "DrGRPOAlgorithm", "DrGRPOOptions",
    "GRPOAlgorithm", "GRPOOptions", "ReinforceAlgorithm", "ReinforceOptions", "algorithm_names", "algorithm_options",
    "build_algorithm", "group_mean_std", "masked_mean", "register_algorithm",
]
