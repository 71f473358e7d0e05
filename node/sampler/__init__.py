"""SAPO's sampler: which external groups an update takes (strategies) and how many (splits).

Registries, by config key:
- `STRATEGIES` (`sampler.type`): uniform, variance, hardest, fresh_uniform, peer_useful
  (`node.sampler.strategies`) and need, the receiver-relative one (`node.sampler.need`);
- `SPLITS` (`sampler.split.type`): fixed, fill, supply (`node.sampler.split`).

Each entry declares the pydantic model of its options; the config validates `options` against it when
it is loaded (`strategy_options`, `split_options`), so a typo fails with the key named:

    >>> sorted(STRATEGIES), sorted(SPLITS)
    (['fresh_uniform', 'hardest', 'need', 'peer_useful', 'uniform', 'variance'], ['fill', 'fixed', 'supply'])
    >>> from node.config import SamplerConfig
    >>> SamplerConfig(type="fresh_uniform", options={"recnt": 8})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SamplerConfig
    options
      Value error, unknown option 'recnt' of sampler strategy 'fresh_uniform' (valid: recent) ...

A plug-in strategy: `register_strategy("mine", my_choose, MyOptions)` before the config is loaded.
Selection itself is `select_groups` (`node.sampler.select`); the pool between rounds is `ExternalPool`.

References: prime-rl `orchestrator/algo/__init__.py` (the registry sits in the package's __init__).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.registry import NoOptions, PluginOptions, lookup, register
from node.sampler.base import AdmitFn, ChooseFn, SelectionContext, Strategy
from node.sampler.need import NeedOptions, need_strategy, passes_gate
from node.sampler.pool import AgeStats, ExternalPool
from node.sampler.select import Selection, select_groups
from node.sampler.split import FillOptions, FillSplit, FixedSplit, Split, SupplyOptions, SupplySplit
from node.sampler.strategies import (
    FreshUniformOptions,
    fresh_uniform_strategy,
    hardest_strategy,
    peer_useful_strategy,
    uniform_strategy,
    variance_strategy,
)

if TYPE_CHECKING:
    from node.config import SplitConfig

STRATEGIES: dict[str, Strategy] = {
    "uniform": Strategy(uniform_strategy),
    "variance": Strategy(variance_strategy),
    "hardest": Strategy(hardest_strategy),
    "fresh_uniform": Strategy(fresh_uniform_strategy, FreshUniformOptions),
    "peer_useful": Strategy(peer_useful_strategy),
    "need": Strategy(need_strategy, NeedOptions, admit=passes_gate),
}

SPLITS: dict[str, type[Split]] = {"fixed": FixedSplit, "fill": FillSplit, "supply": SupplySplit}


def register_strategy(name: str, choose: ChooseFn, options: type[PluginOptions] = NoOptions,
                      admit: AdmitFn | None = None) -> Strategy:
    """Make `name` a `sampler.type`: `choose` picks, `options` types `sampler.options`."""
    return register(STRATEGIES, name, Strategy(choose, options, admit))


def register_split(name: str, split: type[Split]) -> type[Split]:
    """Make `name` a `sampler.split.type`; `split.Options` types its options."""
    return register(SPLITS, name, split)


def build_strategy(name: str) -> Strategy:
    """The strategy `sampler.type` names; an unknown name raises UnknownPluginError with the known ones."""
    return lookup(STRATEGIES, name, "sampler strategy")


def build_split(config: SplitConfig) -> Split:
    """The split a `node.config.SplitConfig` (`sampler.split`) describes, before its first round."""
    return lookup(SPLITS, config.type, "sampler split")(config.options)


def strategy_options(name: str) -> type[PluginOptions]:
    """The options model of strategy `name` (what config validation reads)."""
    return build_strategy(name).options


def split_options(name: str) -> type[PluginOptions]:
    """The options model of split `name`."""
    return lookup(SPLITS, name, "sampler split").Options


__all__ = [
    "SPLITS", "STRATEGIES", "AgeStats", "ChooseFn", "ExternalPool", "FillOptions", "FillSplit", "FixedSplit",
    "FreshUniformOptions", "NeedOptions", "Selection", "SelectionContext", "Split", "Strategy", "SupplyOptions",
    "SupplySplit", "build_split", "build_strategy", "register_split", "register_strategy", "select_groups",
    "split_options", "strategy_options",
]
