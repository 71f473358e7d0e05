"""A private 4-node swarm with sharded announcements: every node lists the 3 others within 2 windows.

Real node processes on loopback (hivemind DHT), a swarm secret and an allow list of the 4 peer ids, the
announcements split over 2 shards (keys ``.../w<window>/a0`` and ``.../a1``). Each node collects every
0.3 s; a collect reads the announce shards once per window and announces the node.
"""

from __future__ import annotations

import math
import os
import time

import pytest

from protocol import Identity
from tests.swarm.helpers import NodeProcess, start_node

pytestmark = pytest.mark.swarm

WINDOW_S = 3.0


def window() -> int:
    return math.floor(time.time() / WINDOW_S)  # nodes on one host: the swarm clock is the wall clock


@pytest.mark.timeout(120)
def test_four_nodes_see_the_three_others_within_two_windows(tmp_path) -> None:
    seeds = [f"ann-{os.getpid()}-{i}" for i in range(4)]
    config = dict(swarm_id="t-announce", window_seconds=WINDOW_S, swarm_secret="announce-secret",
                  allowed_peers=[Identity.from_seed(s.encode()).peer_id for s in seeds],
                  announce_shards=2, num_shards=2, startup_timeout_s=30.0)
    nodes: list[NodeProcess] = []
    try:
        nodes.append(start_node(config, seeds[0], tmp_path))
        for seed in seeds[1:]:
            nodes.append(start_node({**config, "initial_peers": nodes[0].info["maddrs"]}, seed, tmp_path))
        first_announced = {}
        full_view: dict[str, int] = {}
        deadline = time.time() + 8 * WINDOW_S
        while len(full_view) < len(nodes) and time.time() < deadline:
            for node in nodes:
                node.request("collect", max=0)
                first_announced.setdefault(node.peer_id, window())
                peers = set(node.request("stats")["peers"])
                if node.peer_id not in full_view and peers == {n.peer_id for n in nodes} - {node.peer_id}:
                    full_view[node.peer_id] = window()
            time.sleep(0.3)
        assert len(full_view) == len(nodes), f"only {len(full_view)} of 4 nodes saw every other node in 8 windows"
        late = max(first_announced.values())
        assert max(full_view.values()) - late <= 2, (first_announced, full_view)
        for node in nodes:
            assert not node.request("stats")["rejections"], node.peer_id
    finally:
        for node in nodes:
            node.stop()
