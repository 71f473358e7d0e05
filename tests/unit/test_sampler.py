"""SAPO selection: first I local groups, zero-advantage filter, J external by strategy; pinned choices."""

from __future__ import annotations

import random

import pytest

from node.sampler import STRATEGIES, SelectionContext, Selection, register_strategy, select_groups
from node.sampler.strategies import FreshUniformOptions
from node.types import ScoredGroup, Task
from protocol.messages import TaskRef


def group(index: int, *rewards: float, source: str = "peer") -> ScoredGroup:
    return ScoredGroup(Task(TaskRef("toy", index=index), f"q{index}", "a"), ("x",) * len(rewards), rewards, source)


def ids(groups: list[ScoredGroup]) -> list[int]:
    return [g.task.ref.index for g in groups]


LOCAL = [group(0, 1, 0, source="local"), group(1, 0, 0, source="local"), group(2, 1, 1, source="local"),
         group(3, 0.5, 0, source="local")]
EXTERNAL = [group(10, 0, 1), group(11, 1, 1), group(12, 0, 0.5), group(13, 0, 0), group(14, 1, 0, 0, 0), group(15, 1, 0)]


def test_local_is_the_first_i_with_zero_advantage_dropped() -> None:
    sel = select_groups(LOCAL, [], local_i=3, external_j=0, rng=random.Random(0))
    assert sel == Selection(local=[LOCAL[0]], external=[], local_zero_advantage=2, external_zero_advantage=0,
                            external_candidates=0)


def test_zero_advantage_kept_when_not_dropping() -> None:
    sel = select_groups(LOCAL, EXTERNAL, local_i=3, external_j=10, rng=random.Random(0), drop_zero_advantage=False)
    assert ids(sel.local) == [0, 1, 2] and sel.local_zero_advantage == 2
    assert ids(sel.external) == [10, 11, 12, 13, 14, 15] and sel.external_zero_advantage == 2


def test_uniform_matches_a_hand_drawn_sample() -> None:
    sel = select_groups(LOCAL, EXTERNAL, local_i=4, external_j=2, rng=random.Random(7))
    candidates = [10, 12, 14, 15]  # 11 and 13 have zero advantage
    assert ids(sel.external) == random.Random(7).sample(candidates, 2)
    assert (sel.external_zero_advantage, sel.external_candidates) == (2, 4)


def test_uniform_is_uniform_over_candidates() -> None:
    rng, counts = random.Random(1), dict.fromkeys([10, 12, 14, 15], 0)
    for _ in range(2000):
        for index in ids(select_groups([], EXTERNAL, local_i=0, external_j=1, rng=rng).external):
            counts[index] += 1
    assert all(430 < c < 570 for c in counts.values()), counts


def test_variance_prefers_spread_rewards() -> None:
    # population variances: 10 -> 0.25, 12 -> 0.0625, 14 -> 0.1875, 15 -> 0.25
    sel = select_groups([], EXTERNAL, local_i=0, external_j=3, rng=random.Random(0), strategy="variance")
    assert sorted(ids(sel.external)[:2]) == [10, 15] and ids(sel.external)[2] == 14


def test_variance_breaks_ties_at_random() -> None:
    firsts = {ids(select_groups([], EXTERNAL, local_i=0, external_j=1, rng=random.Random(s), strategy="variance")
                  .external)[0] for s in range(20)}
    assert firsts == {10, 15}


def test_fewer_candidates_than_j_takes_all_and_j0_uses_no_randomness() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    assert ids(select_groups([], EXTERNAL, local_i=0, external_j=9, rng=rng).external) == [10, 12, 14, 15]
    assert select_groups(LOCAL, EXTERNAL, local_i=4, external_j=0, rng=rng).external == []
    assert rng.getstate() == state


def test_strategies_are_pluggable() -> None:
    register_strategy("last", lambda cands, j, rng, context: list(cands)[-j:])
    try:
        sel = select_groups([], EXTERNAL, local_i=0, external_j=2, rng=random.Random(0), strategy="last")
        assert ids(sel.external) == [14, 15]
        direct = select_groups([], EXTERNAL, local_i=0, external_j=1, rng=random.Random(0),
                               strategy=lambda cands, j, rng, context: [cands[context.options.recent]],
                               context=SelectionContext(FreshUniformOptions(recent=1)))
        assert ids(direct.external) == [12]
    finally:
        STRATEGIES.pop("last")
    with pytest.raises(ValueError, match="known: .*hardest.*peer_useful.*uniform, variance"):
        select_groups([], EXTERNAL, local_i=0, external_j=1, rng=random.Random(0), strategy="nope")
