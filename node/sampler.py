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

Strategies (registry `STRATEGIES`, extend with `register_strategy`):
- "uniform": J without replacement, uniformly (the paper's choice).
- "variance": the J candidates whose rewards vary most (population variance), ties broken at random:
  the sample level of D^3S (Dynamic Dual-Level Down-Sampling), which keeps high-variance groups.
- "hardest", "fresh_uniform", "peer_useful": built in too, in `node.strategies_extra` (imported below).

References: SAPO (arXiv 2509.08721) section 3; DAPO (arXiv 2503.14476) "dynamic sampling" for the
zero-advantage filter.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import pvariance
from typing import Any

from node.types import ScoredGroup

logger = logging.getLogger(__name__)

SelectionStrategy = Callable[[Sequence[ScoredGroup], int, random.Random, Mapping[str, Any]], list[ScoredGroup]]
"""(candidates, j, rng, options) -> at most j chosen candidates. Called only with 0 < j < len(candidates)."""


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
    """External groups the strategy chose from."""


def uniform_strategy(candidates: Sequence[ScoredGroup], j: int, rng: random.Random,
                     options: Mapping[str, Any]) -> list[ScoredGroup]:
    """J candidates without replacement, each subset equally likely."""
    return rng.sample(list(candidates), j)


def variance_strategy(candidates: Sequence[ScoredGroup], j: int, rng: random.Random,
                      options: Mapping[str, Any]) -> list[ScoredGroup]:
    """The J candidates with the largest reward variance; the shuffle breaks ties at random."""
    shuffled = rng.sample(list(candidates), len(candidates))
    return sorted(shuffled, key=lambda g: pvariance(g.rewards), reverse=True)[:j]


STRATEGIES: dict[str, SelectionStrategy] = {"uniform": uniform_strategy, "variance": variance_strategy}


def register_strategy(name: str, strategy: SelectionStrategy) -> None:
    STRATEGIES[name] = strategy


def build_strategy(strategy: str | SelectionStrategy) -> SelectionStrategy:
    if callable(strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sampler strategy {strategy!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[strategy]


def select_groups(local: Sequence[ScoredGroup], external: Sequence[ScoredGroup], *, local_i: int, external_j: int,
                  rng: random.Random, strategy: str | SelectionStrategy = "uniform", drop_zero_advantage: bool = True,
                  options: Mapping[str, Any] | None = None) -> Selection:
    """Choose the groups of one update: the first I local ones, then J of the external candidates.

    `rng` is used only when a strategy has a real choice to make (0 < J < candidates), so a node with
    J = 0 consumes no randomness and trains exactly like a local-only node.
    """
    choose = build_strategy(strategy)
    firsts = list(local[:local_i])
    local_kept, local_zero = _split_signal(firsts, drop_zero_advantage)
    candidates, external_zero = _split_signal(list(external), drop_zero_advantage)
    if external_j <= 0:
        chosen: list[ScoredGroup] = []
    elif len(candidates) <= external_j:
        chosen = candidates
    else:
        chosen = choose(candidates, external_j, rng, options or {})
    return Selection(local_kept, chosen, local_zero, external_zero, len(candidates))


def _split_signal(groups: list[ScoredGroup], drop: bool) -> tuple[list[ScoredGroup], int]:
    zero = sum(1 for g in groups if not g.has_signal)
    kept = [g for g in groups if g.has_signal] if drop else groups
    return kept, zero


# The built-in strategies beyond uniform and variance live in their own module; importing it here makes
# every built-in name available wherever the sampler is (a node's `sampler.type`), not only in benchmarks.
from node import strategies_extra as _builtin_extras  # noqa: E402,F401  ("hardest", "peer_useful")
