"""An admitted key that floods loses its flood-publish slots to honest peers (`swarm.transports.peer_score`).

Own swarm (real processes on loopback): 3 honest nodes with ``push_fanout=2`` and one admitted
attacker, so each honest node has 3 admitted peers for 2 push slots. Before the flood, targets are
drawn at random among the three; once the attacker floods (valid records past the quota and junk,
pushed to every peer), every draw of every honest node must be its two honest peers.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from protocol import Identity
from tests.chaos.conftest import ATTACKER_SCRIPT, CHAOS_CONFIG, seeds
from tests.swarm.helpers import NodeProcess, start_node

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

DRAWS = 12
"""Push target draws per honest node: a uniform choice of 2 among 3 keeps the attacker out of all 12
with probability (1/3)^12, so the test fails whenever ranking ignores behaviour."""


def libp2p_id(node: NodeProcess) -> str:
    return node.info["maddrs"][0].rsplit("/p2p/", 1)[1]


def learn_peers(nodes: list[NodeProcess], wanted: int, deadline: float) -> None:
    """Collect until every node has verified `wanted` announcements."""
    pending = list(nodes)
    while pending and time.time() < deadline:
        for node in pending:
            node.request("collect", max=64)
        pending = [n for n in pending if len(n.request("stats")["peers"]) < wanted]
        time.sleep(0.3)
    assert not pending, [n.peer_id for n in pending]


@pytest.mark.timeout(90)
def test_flooding_admitted_key_does_not_take_an_honest_push_slot(tmp_path: Path) -> None:
    honest_seeds, attacker_seed = seeds(3)
    allowed = [Identity.from_seed(s.encode()).peer_id for s in [*honest_seeds, attacker_seed]]
    config = {**CHAOS_CONFIG, "allowed_peers": allowed, "push_fanout": 2}
    started: list[NodeProcess] = []
    try:
        started.append(start_node(config, honest_seeds[0], tmp_path))
        joiners = {**config, "initial_peers": started[0].info["maddrs"]}
        started += [start_node(joiners, s, tmp_path) for s in honest_seeds[1:]]
        started.append(start_node(joiners, attacker_seed, tmp_path, script=ATTACKER_SCRIPT))
        honest, attacker = started[:3], started[3]
        learn_peers(started, wanted=3, deadline=time.time() + 20)
        ids = {n.peer_id: libp2p_id(n) for n in started}

        before = {tuple(sorted(d)) for n in honest for d in n.request("push_targets", draws=DRAWS)["draws"]}
        assert any(ids[attacker.peer_id] in d for d in before), "before the flood the attacker is a target like any peer"

        flood = attacker.request("flood", timeout=30, rate=40.0, big=0.0, junk=0.3, small=0.7, seed=1)
        try:
            deadline = time.time() + 8
            while time.time() < deadline and min(n.request("stats")["rejections"].get("malformed", 0) for n in honest) < 5:
                time.sleep(0.3)
            for node in honest:
                expected = {ids[n.peer_id] for n in honest if n is not node}
                draws = node.request("push_targets", draws=DRAWS)["draws"]
                assert all(set(d) == expected for d in draws), (node.peer_id, draws, flood)
        finally:
            attacker.request("flood_stop", timeout=30)
    finally:
        for node in started:
            node.stop()
        assert not any(n.group_alive() for n in started)
