"""Receiver-relative selection ("need"): peers' successes on the kinds of question this node fails.

Uniform pooling treats every peer group alike, whatever the receiver already knows. "need" chooses by
what *this* node lacks, in the spirit of Mutual RL's success-gated transfer:
1. the success gate: a candidate counts only if one of its completions passed *our* verifier
   (reward >= `success_reward`; groups were re-scored locally, the sender's rewards are never read);
2. the need: its weight is (1 - p) ** sharpness, with p this node's own recent pass rate on the
   question's kind (`node.pass_rates`: generator plus the item's difficulty), floored at `min_weight`
   so kinds it already passes are still drawn now and then;
3. J without replacement by those weights (Efraimidis-Spirakis keys u ** (1 / w), one `rng.random()`
   per gated candidate in pool order, so a seed pins the draw). Fewer gated candidates than J: all of them.
The gate is the registry entry's `admit` filter, so `select_groups` applies it before anything else.

    >>> import random
    >>> from types import MappingProxyType
    >>> from node.pass_rates import PassRates
    >>> from node.sampler import SelectionContext, select_groups
    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> def group(i, digits, *rewards):
    ...     meta = {"num_digits": digits, "difficulty": {"num_digits": (1, 2)}}
    ...     return ScoredGroup(Task(TaskRef("chain_sum", index=i), "q", "a", {"metadata": meta}), ("x",) * len(rewards), rewards, "peer")
    >>> rates = PassRates(MappingProxyType({"chain_sum[num_digits=1]": 0.9, "chain_sum[num_digits=2]": 0.05}))
    >>> context = SelectionContext(NeedOptions(min_weight=0.01, sharpness=4.0), pass_rates=rates)
    >>> sel = select_groups([], [group(1, 1, 1.0, 0.0), group(2, 2, 1.0, 0.0), group(3, 1, 0.0, 1.0)], local_i=0,
    ...                     external_j=1, rng=random.Random(0), strategy="need", context=context)
    >>> [x.task.ref.index for x in sel.external]
    [2]

Reference: Mutual RL (arXiv 2605.07244), success-gated transfer; Efraimidis and Spirakis (2006).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence

from pydantic import Field

from node.registry import PluginOptions
from node.sampler.base import SelectionContext
from node.types import ScoredGroup


class NeedOptions(PluginOptions):
    success_reward: float = Field(1.0, ge=0.0, le=1.0)
    """Success gate: a peer's group is a candidate only if one of its completions scores at least this
    under this node's verifier."""
    sharpness: float = Field(1.0, gt=0.0, le=16.0)
    """Weight of a candidate is (1 - own pass rate on its kind) ** sharpness: larger favours the kinds
    this node fails more strongly."""
    min_weight: float = Field(0.05, gt=0.0, le=1.0)
    """Weight floor: a kind this node already passes is still drawn sometimes (its rate may be stale)."""


def need_weight(group: ScoredGroup, context: SelectionContext, options: NeedOptions) -> float:
    """How much this node needs `group`: (1 - its pass rate on the group's kind) ** sharpness, floored."""
    return max(options.min_weight, (1.0 - context.pass_rates.of(group)) ** options.sharpness)


def passes_gate(group: ScoredGroup, context: SelectionContext) -> bool:
    """The success gate: one of the group's completions scored at least `success_reward` here."""
    return max(group.rewards) >= context.options_as(NeedOptions).success_reward


def need_strategy(candidates: Sequence[ScoredGroup], j: int, rng: random.Random,
                  context: SelectionContext) -> list[ScoredGroup]:
    """J of the (gated) candidates, drawn without replacement with probability growing with need."""
    options = context.options_as(NeedOptions)
    keys = [(rng.random() ** (1.0 / need_weight(g, context, options)), i) for i, g in enumerate(candidates)]
    return [candidates[i] for _, i in heapq.nlargest(j, keys)]
