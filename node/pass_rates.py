"""This node's recent pass rate per kind of question, for receiver-relative selection.

A *kind* is the task generator plus the item's own values on the axes its dataset declares as
difficulty (reasoning-gym items carry `metadata["difficulty"]`, e.g. chain_sum's num_terms and
num_digits, and the item's value on each axis); a generator without them falls back to its family
config. Every round the node adds the mean reward of each of its own local groups to its kind's counts,
after decaying every count, so the rate follows the policy as it learns. The node hands strategies a
read-only `PassRates` snapshot (`node.sampler.SelectionContext.pass_rates`); the "need" strategy reads
it to prefer peers' successes on kinds this node fails.

    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> task = lambda digits: Task(TaskRef("chain_sum", index=digits), "q", "a",
    ...                            {"metadata": {"num_digits": digits, "difficulty": {"num_digits": (1, 2)}}})
    >>> kind_of(task(2))
    'chain_sum[num_digits=2]'
    >>> rates = PassRateTracker(decay=1.0, prior=0.5, prior_weight=1.0)
    >>> rates.observe([ScoredGroup(task(1), ("x", "y"), (1.0, 1.0)), ScoredGroup(task(2), ("x", "y"), (0.0, 0.0))])
    >>> snap = rates.snapshot()
    >>> snap.rate("chain_sum[num_digits=1]"), snap.rate("chain_sum[num_digits=2]"), snap.rate("never-seen")
    (0.75, 0.25, 0.5)

Reference: Mutual RL (arXiv 2605.07244): success-gated transfer, import a peer's verified successes
where the receiver fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from node.types import ScoredGroup, Task

FORGET_BELOW = 1e-2
"""A kind whose decayed group count falls below this is forgotten (it would score as the prior)."""


def kind_of(task: Task) -> str:
    """The kind of `task`: generator plus its item's difficulty values (else its family config)."""
    meta = task.entry.get("metadata") if isinstance(task.entry, dict) else None
    axes = meta.get("difficulty") if isinstance(meta, dict) else None
    if isinstance(axes, dict):
        level = [f"{k}={meta[k]}" for k in sorted(axes) if _scalar(meta.get(k))]
        if level:
            return f"{task.ref.generator}[{','.join(level)}]"
    config = ",".join(f"{k}={v}" for k, v in sorted(task.ref.config.items()))
    return f"{task.ref.generator}{{{config}}}"


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


@dataclass(frozen=True)
class PassRates:
    """A read-only view of the pass rates at one round; a kind never tried scores `prior`."""

    rates: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    prior: float = 0.5

    def rate(self, kind: str) -> float:
        return self.rates.get(kind, self.prior)

    def of(self, group: ScoredGroup) -> float:
        """This node's pass rate on the kind of `group`'s question."""
        return self.rate(kind_of(group.task))


@dataclass
class PassRateTracker:
    """Decayed (reward sum, group count) per kind of this node's own groups; `snapshot` gives the rates."""

    decay: float = 0.9
    """Factor applied to every count once a round before the new groups are added."""
    prior: float = 0.5
    """Rate of a kind never tried."""
    prior_weight: float = 1.0
    """Pseudo-groups of the prior."""
    counts: dict[str, list[float]] = field(default_factory=dict)
    """kind -> [sum of group mean rewards, groups]."""

    def __post_init__(self) -> None:
        if not 0.0 < self.decay <= 1.0 or self.prior_weight <= 0.0 or not 0.0 <= self.prior <= 1.0:
            raise ValueError(f"pass rates need decay in (0, 1], prior in [0, 1], prior_weight > 0; got {self}")

    def observe(self, own_groups: Iterable[ScoredGroup]) -> None:
        """One round: decay every count, then add each of this node's own groups to its kind."""
        for kind in list(self.counts):
            total = self.counts[kind]
            total[0], total[1] = total[0] * self.decay, total[1] * self.decay
            if total[1] < FORGET_BELOW:
                del self.counts[kind]
        for group in own_groups:
            total = self.counts.setdefault(kind_of(group.task), [0.0, 0.0])
            total[0] += sum(group.rewards) / len(group.rewards)
            total[1] += 1.0

    def rate(self, kind: str) -> float:
        reward, groups = self.counts.get(kind, (0.0, 0.0))
        return (reward + self.prior * self.prior_weight) / (groups + self.prior_weight)

    def snapshot(self) -> PassRates:
        return PassRates(MappingProxyType({kind: self.rate(kind) for kind in self.counts}), self.prior)

    def state_dict(self) -> dict[str, tuple[float, float]]:
        """The counts, for a checkpoint: kind -> (reward sum, groups)."""
        return {kind: (total[0], total[1]) for kind, total in self.counts.items()}

    def load_state_dict(self, state: Mapping[str, Iterable[float]]) -> None:
        self.counts = {kind: [float(x) for x in total] for kind, total in state.items()}
