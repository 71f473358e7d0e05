"""Announcements without a hot key, over the in-memory hub: own shard, bounded reads, a view that converges.

Time is injected (a mutable clock), never slept; each node's shard order is seeded.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from protocol import Identity, PeerAnnouncement, seal
from protocol.keys import announce_key, is_announce_key, shard_of
from swarm.transports import MemoryHub, MemoryTransport, TransportConfig
from swarm.transports.peer_table import AnnounceReads

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


class ReadCountingHub(MemoryHub):
    """Counts reads per announce key."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.reads: Counter[str] = Counter()

    async def get(self, key: str, latest: bool = True):
        if is_announce_key(key):
            self.reads[key] += 1
        return await super().get(key, latest)


def swarm(n: int, **overrides) -> tuple[Clock, ReadCountingHub, TransportConfig, list[MemoryTransport]]:
    clock = Clock()
    hub = ReadCountingHub(clock)
    cfg = TransportConfig(type="memory", window_seconds=10, **overrides)
    nodes = [MemoryTransport(cfg, Identity.from_seed(f"node{i}".encode()), hub) for i in range(n)]
    for i, node in enumerate(nodes):
        node.announce_reads = AnnounceReads(cfg.announce_shards, cfg.announce_reads_per_window, random.Random(i))
    return clock, hub, cfg, nodes


def windows(clock: Clock, nodes: list[MemoryTransport], count: int) -> None:
    """``count`` windows in which every node collects once (announcing itself), at staggered times."""
    for _ in range(count):
        start = clock.t
        for i, node in enumerate(nodes):
            clock.t = start + 9.0 * i / len(nodes)
            asyncio.run(node.collect(max_batches=0))
        clock.t = start + 10.0


def test_each_node_announces_under_its_own_shard() -> None:
    clock, hub, cfg, nodes = swarm(16, announce_shards=4)
    windows(clock, nodes, 1)
    w = nodes[0].window() - 1
    for node in nodes:
        own = announce_key(cfg.swarm_id, w, shard_of(node.peer_id, 4))
        assert node.peer_id in hub.data[own]
    assert sum(len(hub.data.get(announce_key(cfg.swarm_id, w, s), {})) for s in range(4)) == 16


def test_a_small_swarm_sees_every_peer_within_two_windows() -> None:
    clock, _, _, nodes = swarm(4)  # the defaults: one announce shard, read whole
    windows(clock, nodes, 2)
    for node in nodes:
        assert {p.peer_id for p in node.peers()} == {n.peer_id for n in nodes} - {node.peer_id}


def test_reads_per_node_and_per_key_do_not_grow_with_the_swarm() -> None:
    """Announce shards sized with N (N/8): each node reads 2 keys per window (1 shard, 2 windows) at 32 and
    at 128 nodes, and the most-read key is read about as often at both sizes."""
    hottest, per_node = {}, {}
    for n in (32, 128):
        clock, hub, _, nodes = swarm(n, announce_shards=n // 8, announce_reads_per_window=1)
        windows(clock, nodes, 4)
        per_node[n] = sum(hub.reads.values()) / (4 * n)
        hottest[n] = max(hub.reads.values())
    assert per_node[32] == per_node[128] == 2.0
    assert hottest[128] <= 1.5 * hottest[32] and hottest[128] <= 32  # each key is read in 2 windows by ~8 nodes


def test_a_large_swarm_view_converges_and_stays_within_the_table() -> None:
    clock, _, cfg, nodes = swarm(32, announce_shards=8, announce_reads_per_window=2, max_known_peers=64)
    assert cfg.peer_ttl_windows == 5  # the 8 shards come round every 4 windows
    windows(clock, nodes, 2)
    known = sorted(len(node.peers()) for node in nodes)
    assert known[-1] < 31 and known[0] >= 4  # a sample: 2 of the 8 shards per window
    assert known[len(known) // 2] >= 8  # most nodes could fill a push fanout of 8 by the second window
    windows(clock, nodes, 3)
    for node in nodes:
        assert len(node.peers()) == 31
    capped = swarm(32, announce_shards=8, announce_reads_per_window=2, max_known_peers=10)
    windows(capped[0], capped[3], 6)
    assert all(len(node.peers()) <= 10 and len(node.receiver.announcements) <= 10 for node in capped[3])


def test_an_announcement_under_another_shard_is_refused() -> None:
    clock, hub, cfg, (reader, *_) = swarm(2, announce_shards=4, announce_reads_per_window=4)
    intruder = Identity.from_seed(b"intruder")
    w = reader.window()
    msg = PeerAnnouncement(intruder.peer_id, "m", "h", "0.1.0", (), clock(), cfg.swarm_id, w)
    wrong = (shard_of(intruder.peer_id, 4) + 1) % 4
    hub.tamper(announce_key(cfg.swarm_id, w, wrong), intruder.peer_id, seal(msg, intruder), clock() + 30)
    asyncio.run(reader.collect(max_batches=0))
    assert intruder.peer_id not in {p.peer_id for p in reader.peers()}
    assert reader.stats.rejections["wrong_window"] == 1


def test_a_private_swarm_lists_only_allowed_peers() -> None:
    allowed = [Identity.from_seed(f"node{i}".encode()).peer_id for i in range(3)]
    clock, _, _, nodes = swarm(4, swarm_secret="s3cret", allowed_peers=allowed)  # node3 holds the secret, not a place
    windows(clock, nodes, 2)
    assert {p.peer_id for p in nodes[0].peers()} == set(allowed[1:])
    assert nodes[0].stats.rejections["not_allowed"] >= 1
