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
Selection itself is `select_groups` (below); the pool between rounds is `ExternalPool` (`node.sampler.pool`);
the node's own past informative groups, replayed as candidates, are `ReplayBuffer` (`node.sampler.replay`).

SAPO's selection: the node generates exactly I local groups; external candidates are whatever its peers
shared (already re-scored by `node.intake`). Groups whose rewards are all equal have zero advantage under
any group-relative method, so they are dropped first (when configured); then a strategy chooses J of the
external ones. With fewer than J candidates, all are taken. Pure: no I/O, no clock.

    >>> import random
    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> g = lambda i, *r: ScoredGroup(Task(TaskRef("toy", index=i), "q", "a"), ("x",) * len(r), r, "peer")
    >>> sel = select_groups([g(0, 1.0, 0.0)], [g(1, 0.0, 0.0), g(2, 1.0, 0.0), g(3, 0.5, 1.0)],
    ...                     local_i=1, external_j=1, rng=random.Random(0), strategy="variance")
    >>> [x.task.ref.index for x in sel.external], sel.external_zero_advantage, sel.external_candidates
    ([2], 1, 2)

References: SAPO (arXiv 2509.08721) section 3; DAPO (arXiv 2503.14476) "dynamic sampling" for the
zero-advantage filter; prime-rl `orchestrator/algo/__init__.py` (the registry sits in the package's __init__).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from node.registry import NoOptions, PluginOptions, lookup, register
from node.sampler.base import AdmitFn, ChooseFn, Selection, SelectionContext, Strategy
from node.sampler.need import NeedOptions, need_strategy, passes_gate
from node.sampler.pool import AgeStats, ExternalPool
from node.sampler.replay import ReplayBuffer
from node.sampler.split import FillOptions, FillSplit, FixedSplit, Split, SupplyOptions, SupplySplit
from node.sampler.strategies import (
    FreshUniformOptions,
    fresh_uniform_strategy,
    hardest_strategy,
    peer_useful_strategy,
    uniform_strategy,
    variance_strategy,
)
from node.types import ScoredGroup

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


def build_split(name: str, options: PluginOptions | None = None) -> Split:
    """The split `sampler.split.type` names, with its options, before its first round."""
    return lookup(SPLITS, name, "sampler split")(options)


def strategy_options(name: str) -> type[PluginOptions]:
    """The options model of strategy `name` (what config validation reads)."""
    return build_strategy(name).options


def split_options(name: str) -> type[PluginOptions]:
    """The options model of split `name`."""
    return lookup(SPLITS, name, "sampler split").Options


# ----------------------------------------------------------------------------- selection


def select_groups(local: Sequence[ScoredGroup], external: Sequence[ScoredGroup], *, local_i: int, external_j: int,
                  rng: random.Random, strategy: str | Strategy | ChooseFn = "uniform", drop_zero_advantage: bool = True,
                  context: SelectionContext | None = None) -> Selection:
    """Choose the groups of one update: the first I local ones, then J of the external candidates.

    `strategy` is a registry key of `node.sampler.STRATEGIES`, an entry, or a bare choice function. An
    entry's `admit` filter (e.g. a success gate) applies to the candidates before any count or choice.
    `rng` is used only when a strategy has a real choice to make (0 < J < candidates), so a node with
    J = 0 consumes no randomness and trains exactly like a local-only node.
    """
    entry, context = _entry(strategy), context or SelectionContext()
    local_kept, local_zero = _split_signal(list(local[:local_i]), drop_zero_advantage)
    candidates, external_zero = _split_signal(list(external), drop_zero_advantage)
    if entry.admit is not None:
        candidates = [g for g in candidates if entry.admit(g, context)]
    if external_j <= 0:
        chosen: list[ScoredGroup] = []
    elif len(candidates) <= external_j:
        chosen = candidates
    else:
        chosen = entry.choose(candidates, external_j, rng, context)
    return Selection(local_kept, chosen, local_zero, external_zero, len(candidates))


def _entry(strategy: str | Strategy | ChooseFn) -> Strategy:
    if isinstance(strategy, Strategy):
        return strategy
    return build_strategy(strategy) if isinstance(strategy, str) else Strategy(strategy)


def _split_signal(groups: list[ScoredGroup], drop: bool) -> tuple[list[ScoredGroup], int]:
    zero = sum(1 for g in groups if not g.has_signal)
    kept = [g for g in groups if g.has_signal] if drop else groups
    return kept, zero


__all__ = [
    "SPLITS", "STRATEGIES", "AgeStats", "ChooseFn", "ExternalPool", "FillOptions", "FillSplit", "FixedSplit",
    "FreshUniformOptions", "NeedOptions", "ReplayBuffer", "Selection", "SelectionContext", "Split", "Strategy",
    "SupplyOptions", "SupplySplit", "build_split", "build_strategy", "register_split", "register_strategy", "select_groups",
    "split_options", "strategy_options",
]
