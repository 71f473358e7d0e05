"""Receiver-relative selection: own pass rates per kind of question, the success gate, and "need"
preferring peers' successes on the kinds this node fails (hand-made groups, pinned draws)."""

from __future__ import annotations

import random
from collections import Counter
from types import MappingProxyType

import pytest

from node.pass_rates import PassRates, PassRateTracker, kind_of
from node.sampler import SelectionContext, select_groups
from node.sampler.need import NeedOptions
from node.types import ScoredGroup, Task
from protocol.messages import TaskRef


def task(index: int, digits: int, terms: int = 3) -> Task:
    meta = {"num_digits": digits, "num_terms": terms, "difficulty": {"num_digits": (1, 2), "num_terms": (3, 3)}}
    return Task(TaskRef("chain_sum", {"min_terms": 3}, index=index), "q", "a", {"metadata": meta})


def group(index: int, digits: int, *rewards: float, source: str = "peer") -> ScoredGroup:
    return ScoredGroup(task(index, digits), ("x",) * len(rewards), rewards, source)


EASY, HARD = "chain_sum[num_digits=1,num_terms=3]", "chain_sum[num_digits=2,num_terms=3]"


def test_kind_is_the_items_difficulty_else_the_family_config() -> None:
    assert kind_of(task(0, 1)) == EASY and kind_of(task(1, 2)) == HARD
    plain = Task(TaskRef("toy", {"n": 2, "a": "x"}, index=0), "q", "a")
    assert kind_of(plain) == "toy{a=x,n=2}"


def test_pass_rates_follow_recent_rounds() -> None:
    rates = PassRateTracker(decay=0.5, prior=0.5, prior_weight=1.0)
    rates.observe([group(0, 1, 1, 1, source="local"), group(1, 2, 0, 0, source="local")])
    assert rates.rate(EASY) == pytest.approx(0.75) and rates.rate(HARD) == pytest.approx(0.25)
    for _ in range(6):
        rates.observe([group(2, 2, 1, 1, source="local")])  # it learned the hard kind
    assert rates.rate(HARD) > 0.8 and rates.snapshot().rate("never") == 0.5  # at most 2 effective groups vs 1 prior
    restored = PassRateTracker()
    restored.load_state_dict(rates.state_dict())
    assert restored.rate(HARD) == rates.rate(HARD)


FAILS_HARD = PassRates(MappingProxyType({EASY: 0.95, HARD: 0.02}))
POOL = [group(i, 1 + i % 2, 1, 0, 0, 0) for i in range(12)]  # even indices easy, odd hard, each one success


def draw(rng: random.Random, j: int, rates: PassRates, **options: float) -> list[ScoredGroup]:
    context = SelectionContext(NeedOptions(**options), pass_rates=rates)
    return select_groups([], POOL, local_i=0, external_j=j, rng=rng, strategy="need", context=context).external


def test_need_prefers_kinds_this_node_fails() -> None:
    rng = random.Random(0)
    picks = Counter(kind_of(g.task) for _ in range(300) for g in draw(rng, 3, FAILS_HARD))
    assert picks[HARD] > 0.85 * 900, picks
    assert picks[EASY] > 0, "the weight floor must leave easy kinds a chance"


def test_need_without_history_is_uniform() -> None:
    rng = random.Random(1)
    picks = Counter(g.task.ref.index for _ in range(1200) for g in draw(rng, 1, PassRates()))
    assert set(picks) == set(range(12)) and all(60 < c < 140 for c in picks.values()), picks


def test_need_is_pinned_by_its_seed_and_draws_without_replacement() -> None:
    first, second = draw(random.Random(5), 4, FAILS_HARD), draw(random.Random(5), 4, FAILS_HARD)
    assert first == second and len({id(g) for g in first}) == 4
    assert [g.task.ref.index for g in first] == [3, 5, 1, 9]  # the 4 largest u ** (1 / w), w = 0.98 (odd) or 0.05


def test_the_success_gate_refuses_groups_no_completion_passed() -> None:
    near_misses = [group(20 + i, 2, 0.5, 0.0) for i in range(3)]  # signal (format reward) but no success
    context = SelectionContext(NeedOptions(), pass_rates=FAILS_HARD)
    sel = select_groups([], near_misses + POOL[:2], local_i=0, external_j=4, rng=random.Random(0), strategy="need",
                        context=context)
    assert [g.task.ref.index for g in sel.external] == [0, 1] and sel.external_candidates == 2
    lenient = SelectionContext(NeedOptions(success_reward=0.5), pass_rates=FAILS_HARD)
    assert len(select_groups([], near_misses, local_i=0, external_j=2, rng=random.Random(0), strategy="need",
                             context=lenient).external) == 2
