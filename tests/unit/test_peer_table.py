"""The peer directory: announce shards read in turn, and the bounded, aged peer table (swarm/transports/peer_table.py)."""

from __future__ import annotations

import random

import pytest

from protocol import PeerAnnouncement
from swarm.transports.peer_table import AnnounceReads, PeerTable


def ann(peer: str, window: int) -> PeerAnnouncement:
    return PeerAnnouncement(peer, "tiny", "cpu", "0.1.0", (), 0.0, "test", window)


def test_reads_cover_every_shard_in_turn_from_a_random_start() -> None:
    starts = set()
    for seed in range(20):
        reads = AnnounceReads(num_shards=8, per_window=3, rng=random.Random(seed))
        starts.add(reads.cursor)
        rounds = [reads.next() for _ in range(3)]  # ceil(8 / 3) reads cover all 8 shards
        assert all(len(r) == 3 for r in rounds)
        assert set().union(*rounds) == set(range(8))
        assert rounds[1][0] == (rounds[0][-1] + 1) % 8  # consecutive: no shard skipped between reads
    assert len(starts) > 3  # nodes start at different shards, so no shard is everyone's first read


def test_few_shards_are_all_read_every_time() -> None:
    reads = AnnounceReads(num_shards=2, per_window=2, rng=random.Random(0))
    assert reads.next() == [0, 1] and reads.next() == [0, 1]
    with pytest.raises(ValueError, match="num_shards=0"):
        AnnounceReads(num_shards=0, per_window=1, rng=random.Random(0))


def test_a_peer_keeps_its_latest_announcement_only() -> None:
    table = PeerTable(capacity=4)
    assert table.add(ann("a", 5)) and table.add(ann("a", 7))
    assert not table.add(ann("a", 6))  # an older copy read late never replaces a newer one
    assert len(table) == 1 and table.get("a").window == 7


def test_a_full_table_drops_its_oldest_announcement_and_never_grows() -> None:
    table = PeerTable(capacity=3)
    for peer, window in [("a", 5), ("b", 6), ("c", 7)]:
        table.add(ann(peer, window))
    assert table.add(ann("d", 8)) and "a" not in table and len(table) == 3 and table.evicted == 1
    assert not table.add(ann("e", 6))  # older than everything kept: refused, nothing evicted
    assert sorted(table) == ["b", "c", "d"]
    for i in range(1000):
        table.add(ann(f"p{i}", 100 + i))
    assert len(table) == 3 and sorted(table) == ["p997", "p998", "p999"]


def test_live_peers_age_out_and_exclude_this_node() -> None:
    table = PeerTable(capacity=8)
    for peer, window in [("me", 10), ("a", 6), ("b", 9), ("c", 10)]:
        table.add(ann(peer, window))
    assert [a.peer_id for a in table.live(oldest_window=7, exclude="me")] == ["b", "c"]
    assert "a" not in table  # aged out for good: a later read brings it back
    table.add(ann("a", 11))
    assert [a.peer_id for a in table.live(oldest_window=7, exclude="me")] == ["a", "b", "c"]
