"""Reconnect pings a bounded few of the known peers missing from the routing table (swarm/transports/hivemind/reconnect.py).

The DHT node is a stand-in holding only what `Reconnect.missing` reads (its peer id and routing table); the
heal itself is tested against real nodes in tests/swarm/test_reconnect.py.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

from swarm.transports.hivemind.reconnect import Reconnect


def node_with_table(*in_table: str) -> SimpleNamespace:
    table = SimpleNamespace(peer_id_to_uid={p: None for p in in_table})
    return SimpleNamespace(peer_id="me", protocol=SimpleNamespace(routing_table=table))


def test_missing_is_capped_initial_peers_first_then_a_random_few() -> None:
    admitted = [f"p{i}" for i in range(500)]  # a large swarm: most admitted peers are never in a routing table
    rejoin = Reconnect(node_with_table("p1", "boot1"), ["boot0", "boot1"], lambda: admitted, period_s=1, timeout_s=1,
                       remember=256, max_pings=8, rng=random.Random(0))
    first, second = rejoin.missing(), rejoin.missing()
    assert len(first) == len(second) == 8
    assert first[0] == "boot0" and "boot1" not in first and "p1" not in first
    assert set(first[1:]) != set(second[1:])  # a different few each period
    assert len(rejoin.known) == 256


def test_a_small_swarm_pings_every_missing_peer() -> None:
    rejoin = Reconnect(node_with_table(), ["boot"], lambda: ["a", "b", "me"], period_s=1, timeout_s=1, max_pings=8)
    assert sorted(rejoin.missing()) == ["a", "b", "boot"]
