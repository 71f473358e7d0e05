"""Peer usefulness: the ledger's counts, prior and decay; the "peer_useful" strategy's preference,
determinism and J = 0 silence; the node feeding its ledger from a real peer and handing the strategy
its snapshot. Nothing here registers into the global strategy registry for longer than one test."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest

from node.config import PeerLedgerConfig
from node.peer_ledger import PeerLedger, PeerRecord, PeerUsefulness
from node.sampler import STRATEGIES, SelectionContext, register_strategy, select_groups
from node.sampler.strategies import peer_useful_strategy
from node.types import ScoredGroup, Task
from protocol.messages import Completion, RolloutBatch, RolloutGroup, TaskRef
from swarm.transports import MemoryHub
from tests.unit.test_node_round import _lockstep, make_node

REF = TaskRef("toy", index=0)


def sent(peer: str, groups: int) -> RolloutBatch:
    group = RolloutGroup(REF, "q", (Completion("x", 1, 0.0), Completion("y", 1, 0.0)))
    return RolloutBatch("s", peer, "m", 0.0, 0, f"{peer}-b", (group,) * groups)


def accepted(peer: str, *rewards: float, index: int = 0) -> ScoredGroup:
    return ScoredGroup(Task(TaskRef("toy", index=index), "q", "a"), ("x",) * len(rewards), rewards, peer)


def test_ledger_counts_received_survived_and_useful() -> None:
    ledger = PeerLedger(decay=1.0)
    ledger.observe([sent("a", 3), sent("b", 2)], [accepted("a", 1, 0), accepted("a", 1, 1), accepted("b", 0, 0)])
    ledger.observe([sent("a", 1)], [accepted("a", 0, 1)])
    assert ledger.records == {"a": PeerRecord(4.0, 3.0, 2.0), "b": PeerRecord(2.0, 1.0, 0.0)}
    assert ledger.score("a") == pytest.approx((2 + 1) / (4 + 2)) and ledger.score("b") == pytest.approx(1 / 4)


def test_unseen_peer_scores_the_prior() -> None:
    ledger = PeerLedger(prior_useful=3.0, prior_useless=1.0)
    ledger.observe([sent("a", 2)], [])
    snap = ledger.snapshot()
    assert snap.score("never-seen") == ledger.score("never-seen") == 0.75 == snap.prior
    assert snap.score("a") == pytest.approx(3 / 6)
    assert PeerUsefulness().score("anyone") == 0.5


def test_decay_lets_a_peer_recover_and_forgets_silent_ones() -> None:
    ledger = PeerLedger(decay=0.5)
    ledger.observe([sent("a", 8)], [])  # 8 useless groups
    low = ledger.score("a")
    for _ in range(4):
        ledger.observe([sent("a", 2)], [accepted("a", 1, 0), accepted("a", 0, 1)])  # then all useful
    assert low < 0.2 and ledger.score("a") > 0.7
    for _ in range(12):
        ledger.observe([], [])
    assert "a" not in ledger.records and ledger.score("a") == 0.5


def test_ledger_rejects_a_zero_prior_or_bad_decay() -> None:
    with pytest.raises(ValueError):
        PeerLedger(prior_useful=0.0)
    with pytest.raises(ValueError):
        PeerLedger(decay=1.5)
    assert PeerLedger(**PeerLedgerConfig(decay=0.8).model_dump()).decay == 0.8


def good_and_bad_history() -> PeerUsefulness:
    ledger = PeerLedger(decay=1.0)
    good = [accepted("good", 1, 0) for _ in range(20)]
    bad = [accepted("bad", 1, 1), accepted("bad", 0, 0)]  # 20 sent, 2 survive intake, neither has signal
    ledger.observe([sent("good", 20), sent("bad", 20)], good + bad)
    return ledger.snapshot()


CANDIDATES = [accepted(peer, 1, 0, index=i) for i, peer in enumerate(["good", "bad"] * 4)]


def draw(rng: random.Random, j: int, usefulness: PeerUsefulness | None) -> list[ScoredGroup]:
    context = SelectionContext(peer_usefulness=usefulness) if usefulness is not None else None
    return select_groups([], CANDIDATES, local_i=0, external_j=j, rng=rng, strategy=peer_useful_strategy,
                         context=context).external


def test_peer_useful_prefers_the_peer_whose_groups_survive() -> None:
    rng, usefulness = random.Random(0), good_and_bad_history()
    picks = Counter(g.source for _ in range(200) for g in draw(rng, 1, usefulness))
    assert picks["good"] > 0.8 * 200, picks
    assert picks["bad"] > 0, "a low score must still leave a chance to recover"


def test_peer_useful_without_history_is_uniform_over_candidates() -> None:
    rng = random.Random(1)
    picks = Counter(g.task.ref.index for _ in range(1600) for g in draw(rng, 1, None))
    assert set(picks) == set(range(8)) and all(150 < c < 250 for c in picks.values()), picks


def test_peer_useful_is_deterministic_under_a_seed_and_without_replacement() -> None:
    usefulness = good_and_bad_history()
    first, second = draw(random.Random(5), 3, usefulness), draw(random.Random(5), 3, usefulness)
    assert first == second and len({id(g) for g in first}) == 3


def test_peer_useful_with_j0_consumes_no_randomness() -> None:
    rng = random.Random(2)
    state = rng.getstate()
    assert draw(rng, 0, good_and_bad_history()) == [] and rng.getstate() == state


def test_node_feeds_its_ledger_and_hands_the_strategy_its_snapshot(tiny_model_config, tmp_path: Path) -> None:
    snapshots: list[PeerUsefulness] = []

    def spy(candidates, j, rng, context):  # "peer_useful", recording what the node passed
        snapshots.append(context.peer_usefulness)
        return peer_useful_strategy(candidates, j, rng, context)

    # zero-advantage groups stay candidates, so J = 1 always has a choice to make once the peer has published
    sampler = {"type": "peer_useful_spy", "local_i": 4, "external_j": 1, "completions_l": 6, "drop_zero_advantage": False}
    hub = MemoryHub()
    register_strategy("peer_useful_spy", spy)  # before the config names it: an unknown type fails at load
    try:
        a, b = (make_node(tiny_model_config, n, tmp_path, hub=hub, overrides={"sampler": sampler}) for n in ("a", "b"))
        asyncio.run(_lockstep([a, b], 3))
    finally:
        STRATEGIES.pop("peer_useful_spy")
    peer = b.identity.peer_id
    record = a.peer_ledger.records[peer]
    assert record.received > 0 and record.survived == pytest.approx(record.received)  # an honest peer
    assert 0 <= record.useful <= record.survived and a.identity.peer_id not in a.peer_ledger.records
    of_a = [snap for snap in snapshots if peer in snap.scores]  # node b's snapshots hold a's score instead
    assert of_a and of_a[-1].score(peer) == pytest.approx(a.peer_ledger.score(peer)) != a.peer_ledger.prior


def test_a_restarted_node_keeps_its_peer_ledger(tiny_model_config, tmp_path: Path) -> None:
    """The ledger is checkpointed with the round: a node restarted from its checkpoint scores its peers as
    before the kill, instead of starting again from the prior."""
    hub = MemoryHub()
    a = make_node(tiny_model_config, "a", tmp_path, hub=hub, checkpoint=True)
    b = make_node(tiny_model_config, "b", tmp_path, hub=hub)
    asyncio.run(_lockstep([a, b], 3))
    assert b.identity.peer_id in a.peer_ledger.records
    restarted = make_node(tiny_model_config, "a", tmp_path, hub=MemoryHub(), checkpoint=True)
    assert restarted.restore() and restarted.round == 3
    assert restarted.peer_ledger.state_dict() == a.peer_ledger.state_dict()
    assert restarted.peer_ledger.score(b.identity.peer_id) == a.peer_ledger.score(b.identity.peer_id) != a.peer_ledger.prior
