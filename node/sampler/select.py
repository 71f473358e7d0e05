"""SAPO's selection: I local groups and J external groups for one update. Pure: no I/O, no clock.

The node generates exactly I local groups; external candidates are whatever its peers shared (already
re-scored by `node.intake`). Groups whose rewards are all equal have zero advantage under any
group-relative method, so they are dropped first (when configured); then a strategy chooses J of the
external ones. With fewer than J candidates, all are taken.

    >>> import random
    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> g = lambda i, *r: ScoredGroup(Task(TaskRef("toy", index=i), "q", "a"), ("x",) * len(r), r, "peer")
    >>> sel = select_groups([g(0, 1.0, 0.0)], [g(1, 0.0, 0.0), g(2, 1.0, 0.0), g(3, 0.5, 1.0)],
    ...                     local_i=1, external_j=1, rng=random.Random(0), strategy="variance")
    >>> [x.task.ref.index for x in sel.external], sel.external_zero_advantage, sel.external_candidates
    ([2], 1, 2)

References: SAPO (arXiv 2509.08721) section 3; DAPO (arXiv 2503.14476) "dynamic sampling" for the
zero-advantage filter.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from node.sampler.base import ChooseFn, SelectionContext, Strategy
from node.types import ScoredGroup


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
    if isinstance(strategy, str):
        from node.sampler import build_strategy  # the registry sits in the package's __init__, which imports us

        return build_strategy(strategy)
    return Strategy(strategy)


def _split_signal(groups: list[ScoredGroup], drop: bool) -> tuple[list[ScoredGroup], int]:
    zero = sum(1 for g in groups if not g.has_signal)
    kept = [g for g in groups if g.has_signal] if drop else groups
    return kept, zero
