"""The sampler inside a real `Node` (tiny model, MemoryTransport, injected clock): the fill configured in
the node follows its rule and trains exactly like a fixed node moved between rounds (what the SAPO
simulator did before the split moved into the node); staleness is measured, bounded and reported; the
node feeds the need strategy its own pass rates; replay offers the node's own past informative groups."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import torch

from node.config import NodeConfig
from node.pass_rates import PassRates
from node.round import Node
from node.sampler import STRATEGIES, register_strategy
from node.sampler.need import need_strategy
from swarm.transports import MemoryHub
from tests.unit.test_node_round import make_node, weights

T0 = 1_700_000_000.0
WINDOW_S = 5.0  # make_node's transport
BASE = {"local_i": 4, "completions_l": 6}
COMPARED = ("local_i", "external_j", "local_groups", "external_groups", "external_candidates", "reward_local", "loss",
            "pool_size")


class Clock:
    """DHT time under the test's control: `at_round(r)` puts every node in window r."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t

    def at_round(self, r: int) -> None:
        self.t = T0 + (r + 0.5) * WINDOW_S


def pair(model_config, tmp_path: Path, sampler: dict, clock: Clock) -> tuple[Node, Node]:
    """(node under test, a fixed 4/4 peer) over one MemoryHub, each transport with a seeded record order."""
    hub = MemoryHub(clock)
    node = make_node(model_config, "n", tmp_path, hub=hub, overrides={"sampler": sampler})
    peer = make_node(model_config, "peer", tmp_path, hub=hub)
    for k, x in enumerate((node, peer)):
        x.transport.rng = random.Random(k)
    return node, peer


async def lockstep(node: Node, peer: Node, clock: Clock, rounds: int, after=None) -> list[dict]:
    for x in (node, peer):
        await x.transport.start()
    rows = []
    for r in range(rounds):
        clock.at_round(r)
        await peer.step()
        rows.append(await node.step())
        if after is not None:
            after(node, rows[-1])
    return rows


def move(node: Node, local_i: int, external_j: int) -> None:
    """Set a fixed node's I/J from outside (configs are frozen: the node gets a copy of its sampler section)."""
    sampler = node.config.sampler.model_copy(update={"local_i": local_i, "external_j": external_j})
    node.config = node.config.model_copy(update={"sampler": sampler})


def test_the_fill_in_the_node_trains_like_a_node_moved_from_outside(tiny_model_config, tmp_path: Path) -> None:
    fill = {**BASE, "external_j": 0, "split": {"type": "fill", "options": {"target": 6}}}
    clock = Clock()
    node, peer = pair(tiny_model_config, tmp_path / "node", fill, clock)
    ours = asyncio.run(lockstep(node, peer, clock, 5))
    ema = None  # the fill's rule, from its rows: J = target - round(EMA, decay 0.7, of informative local groups)
    for before, row in zip(ours, ours[1:]):
        ema = before["local_groups"] if ema is None else 0.7 * ema + 0.3 * before["local_groups"]
        assert row["external_j"] == max(0, 6 - round(ema))

    # What benchmarks/sapo/sim.py did before the split moved into the node: a fixed node moved between rounds.
    splits = [(row["local_i"], row["external_j"]) for row in ours]
    clock = Clock()
    driven, peer = pair(tiny_model_config, tmp_path / "sim", {**BASE, "external_j": 0}, clock)
    theirs = asyncio.run(lockstep(driven, peer, clock, 5,
                                  after=lambda n, row: move(n, *splits[min(row["round"] + 1, len(splits) - 1)])))

    assert [[row[k] for k in COMPARED] for row in ours] == [[row[k] for k in COMPARED] for row in theirs]
    assert sum(row["external_groups"] for row in ours) > 0 and len({row["external_j"] for row in ours}) > 1
    assert all(torch.equal(a, b) for a, b in zip(weights(node), weights(driven)))


def test_ages_are_reported_and_stale_groups_dropped(tiny_model_config, tmp_path: Path) -> None:
    sampler = {**BASE, "external_j": 2, "drop_zero_advantage": False}
    clock = Clock()
    node, peer = pair(tiny_model_config, tmp_path / "aged", sampler, clock)
    rows = asyncio.run(lockstep(node, peer, clock, 4))
    trained = [row for row in rows if row["external_groups"]]
    assert trained and all(row["external_age_windows_max"] is not None for row in trained)
    assert all(0 <= row["external_age_windows_mean"] <= row["external_age_windows_max"] for row in trained)
    assert all(row["external_age_rounds_max"] is not None for row in trained)  # the peer says its round (1.2)
    assert any(row["external_age_windows_max"] >= 1 for row in trained)  # J=2 of 4 a round: the pool ages
    assert all(row["pool_dropped_stale"] == 0 for row in rows)

    clock = Clock()
    bounded, peer = pair(tiny_model_config, tmp_path / "bounded", {**sampler, "max_age_windows": 0}, clock)
    rows = asyncio.run(lockstep(bounded, peer, clock, 4))
    assert sum(row["pool_dropped_stale"] for row in rows) > 0
    assert all(row["external_age_windows_max"] in (None, 0) for row in rows)


def test_the_node_feeds_need_its_own_pass_rates(tiny_model_config, tmp_path: Path) -> None:
    seen: list[PassRates] = []

    def spy(candidates, j, rng, context):
        seen.append(context.pass_rates)
        return need_strategy(candidates, j, rng, context)

    register_strategy("need_spy", spy, STRATEGIES["need"].options, STRATEGIES["need"].admit)
    try:
        clock = Clock()
        node, peer = pair(tiny_model_config, tmp_path, {**BASE, "type": "need_spy", "external_j": 1,
                                                        "options": {"success_reward": 0.5}}, clock)
        asyncio.run(lockstep(node, peer, clock, 4))
    finally:
        STRATEGIES.pop("need_spy")
    assert seen, "the strategy never had a choice to make"
    kind = "chain_sum[num_digits=1,num_terms=2]"  # the default family's items
    assert seen[-1].rate(kind) == pytest.approx(node.pass_rates.rate(kind)) and kind in node.pass_rates.counts
    assert NodeConfig.model_validate({"sampler": {"type": "need"}}).sampler.options.success_reward == 1.0
