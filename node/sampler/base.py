"""What a selection strategy is (a pure choice function plus the typed options it declares) and what a
selection returns (`Selection`).

A strategy is called with the candidates (external groups with signal, in pool order), how many to
take (0 < j < len(candidates)), the node's sampling generator and a `SelectionContext`: its own typed
options and read-only snapshots of the node's history. It does no I/O and reads no clock, so a test
can pin every choice.

    >>> import random
    >>> first = Strategy(lambda candidates, j, rng, context: list(candidates)[:j])
    >>> first.choose(["a", "b", "c"], 2, random.Random(0), SelectionContext())
    ['a', 'b']
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from node.pass_rates import PassRates
from node.peer_ledger import PeerUsefulness
from node.registry import NoOptions, PluginOptions
from node.types import ScoredGroup

O = TypeVar("O", bound=PluginOptions)


@dataclass(frozen=True)
class SelectionContext:
    """Everything a strategy may read besides the candidates, handed over by the node each round."""

    options: PluginOptions = field(default_factory=NoOptions)
    """The strategy's own options (`sampler.options`, validated by the model it declares)."""
    peer_usefulness: PeerUsefulness = field(default_factory=PeerUsefulness)
    """How often each sender's groups were worth training on (`node.peer_ledger`)."""
    pass_rates: PassRates = field(default_factory=PassRates)
    """This node's own recent pass rate per kind of question (`node.pass_rates`)."""

    def options_as(self, model: type[O]) -> O:
        """The options as `model`: this context's when they are one (the config validated them), else
        `model`'s defaults (a strategy called directly, without options)."""
        return self.options if isinstance(self.options, model) else model()


@dataclass(frozen=True)
class Selection:
    local: list[ScoredGroup]
    """Local groups kept for the update (at most I)."""
    external: list[ScoredGroup]
    """External groups chosen for the update (at most J)."""
    local_zero_advantage: int
    """Zero-advantage groups among the first I local ones (dropped when configured)."""
    external_zero_advantage: int
    """Zero-advantage groups among the external ones (dropped when configured)."""
    external_candidates: int
    """External groups the strategy chose from (with signal, and admitted by the strategy)."""


ChooseFn = Callable[[Sequence[ScoredGroup], int, random.Random, SelectionContext], list[ScoredGroup]]
"""(candidates, j, rng, context) -> at most j chosen candidates. Called only with 0 < j < len(candidates)."""

AdmitFn = Callable[[ScoredGroup, SelectionContext], bool]
"""(candidate, context) -> whether the strategy may take it at all."""


@dataclass(frozen=True)
class Strategy:
    """One entry of `node.sampler.STRATEGIES`."""

    choose: ChooseFn
    options: type[PluginOptions] = NoOptions
    """The model `sampler.options` is validated against when `sampler.type` names this strategy."""
    admit: AdmitFn | None = None
    """Candidates the strategy refuses outright, whether or not there is a choice to make (None: all)."""
