"""Plausibility defence: drop external completions holding a token this node's own policy finds far less
likely than anything in its own completions.

Each external completion (with signal) is re-tokenized for this node's model and scored by a summary of its
per-token log-probs, end-of-turn token included, under the node's current policy: the mean (`statistic: mean`,
the default) or the lowest (`min`). The same score of the node's own recent completions (`own_per_round`
distinct ones a round, the last `window` kept) is the reference: a completion is flagged "implausible" when its
score is more than `margin_nats` below the `quantile` of the own scores. With `rewarded_only`, both sides are
the completions the verifier pays for (reward > 0): only those can be taught by a positive advantage, and a
model's paid answers are its most fluent ones, so the reference is tighter. Calibrating against the node's own
traffic, rather than a fixed threshold, is what lets it work for any model size: a 0.5M-parameter model and a
135M one put very different log-probs on the same text. A trigger
phrase after an answer sits where the node's own model puts its end-of-turn token with near certainty, and
filler sits where it never writes any, so both score far below the reference; a peer's honest wrong answer
does not. Until `min_calibration` own completions are scored, nothing is flagged.

Why the mean of paid completions (`benchmarks/results/poison/calibration*.json`, "separability" and
"mean_rewarded"): a pretrained LM sampled at temperature 1 writes 32-token sentences with a token at -25 to -30
nats now and then, so the lowest token of its own answers leaves the attacks' texts far above the floor
(SmolLM2-135M: none caught at any margin; on the tiny models none of the trigger attacks either). The mean token
log-prob of paid completions tells them apart on both (AUC >= 0.98 for a_suffix, b_prefix and d_step against a
peer's paid honest completions, every model pair); at margin 0.5 it catches 94-100% of a-d on the tiny models and
87-100% of a, b and d on SmolLM2 while dropping at most 1.2% of a peer's paid honest completions. What it cannot
see: SmolLM2 finds c_pad's repeated zeros likely (the token limit bounds that attack), and an attacker who writes
in the receiver's own style (the attacks measured here are the grid's fixed texts).

    >>> scores = iter([[-1.0, -2.0, -0.5, -1.5], [-1.2, -30.0]])
    >>> defence = PlausibilityDefence(lambda pairs: next(scores), quantile=0.25, margin_nats=4.0, min_calibration=4,
    ...                               rewarded_only=False)
    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> own = ScoredGroup(Task(TaskRef("toy", index=0), "q", "a"), ("1", "2", "3", "4"), (1.0, 0.0, 0.0, 0.0))
    >>> defence.observe_local([own])
    >>> peer = ScoredGroup(Task(TaskRef("toy", index=1), "q", "a"), ("5", "5 visit"), (1.0, 0.5), "peer-b")
    >>> defence.inspect([peer]), round(defence.threshold(), 2)
    ([[None, 'implausible']], -5.5)

Reference: "Hail to the Thief" (arXiv 2511.09780) section 6, a log-prob check under the receiver's model
(there with identical models; here calibrated per node); TRL `grpo_trainer.py` `_get_per_token_logps`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from node.defences.base import Defence, Flags, _subgroup
from node.types import ScoredGroup

Scorer = Callable[[Sequence[tuple[str, str]]], list[float]]
"""(question, completion) pairs -> each completion's lowest token log-prob under the node's policy."""


class PlausibilityDefence(Defence):
    name = "plausibility"
    signal_only = True

    def __init__(self, scorer: Scorer, *, quantile: float = 0.005, margin_nats: float = 0.5, window: int = 4096,
                 min_calibration: int = 64, own_per_round: int = 32, rewarded_only: bool = True) -> None:
        self.scorer, self.quantile, self.margin = scorer, quantile, margin_nats
        self.min_calibration, self.own_per_round, self.rewarded_only = min_calibration, own_per_round, rewarded_only
        self.own: deque[float] = deque(maxlen=window)

    def observe_local(self, local: Sequence[ScoredGroup]) -> None:
        if self.rewarded_only:
            local = [_subgroup(g, [j for j, r in enumerate(g.rewards) if r > 0.0]) for g in local
                     if any(r > 0.0 for r in g.rewards)]
        pairs = _distinct_pairs(local, self.own_per_round)
        if pairs:
            self.own.extend(self.scorer(pairs))

    def threshold(self) -> float | None:
        """The lowest acceptable score now, or None while calibrating."""
        if len(self.own) < self.min_calibration:
            return None
        ordered = sorted(self.own)
        return ordered[min(len(ordered) - 1, int(self.quantile * len(ordered)))] - self.margin

    def inspect(self, groups: Sequence[ScoredGroup]) -> Flags:
        floor = self.threshold()
        if floor is None:
            return [[None] * len(g.texts) for g in groups]
        checked = [[not self.rewarded_only or r > 0.0 for r in g.rewards] for g in groups]
        pairs = sorted({(g.task.question, t) for g, marks in zip(groups, checked) for t, c in zip(g.texts, marks) if c})
        scores = dict(zip(pairs, self.scorer(pairs))) if pairs else {}
        return [[None if not c or scores[(g.task.question, t)] >= floor else "implausible"
                 for t, c in zip(g.texts, marks)] for g, marks in zip(groups, checked)]


def _distinct_pairs(groups: Sequence[ScoredGroup], limit: int) -> list[tuple[str, str]]:
    """Up to `limit` distinct (question, completion) pairs, taken round-robin over the groups."""
    seen: dict[tuple[str, str], None] = {}
    longest = max((len(g.texts) for g in groups), default=0)
    for j in range(longest):
        for g in groups:
            if j < len(g.texts):
                seen.setdefault((g.task.question, g.texts[j]), None)
                if len(seen) >= limit:
                    return list(seen)
    return list(seen)


def lowest_token_logprob(policy: Any, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Each completion's lowest per-token log-prob (its end-of-turn token included) under `policy`, no grad.

    The tokens are the policy's own training rows (`Policy.completion_logprobs`, as `Policy.build_batch` makes
    them), so the check sees exactly the tokens an update would push up.
    """
    return [min(scores) for scores in policy.completion_logprobs(pairs)]


def mean_token_logprob(policy: Any, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Each completion's mean per-token log-prob (its end-of-turn token included) under `policy`, no grad."""
    return [sum(scores) / len(scores) for scores in policy.completion_logprobs(pairs)]


STATISTICS: dict[str, Callable[[Any, Sequence[tuple[str, str]]], list[float]]] = {
    "min": lowest_token_logprob, "mean": mean_token_logprob}
"""`defences.plausibility.statistic` -> the scorer it builds (with this node's policy)."""
