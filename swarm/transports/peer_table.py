"""The peer directory of one node: which announce shards to read next, and a bounded table of what it read.

Announcements sit under ``announce_key(swarm, window, shard_of(peer id, announce_shards))``. A node reads
``announce_reads_per_window`` of those shards per window, in turn from a random start, so each key is read
by about N x reads / announce_shards nodes per window (a constant when announce_shards grows with N) and
the node's view covers every shard within announce_shards / reads windows. What it reads goes to a
`PeerTable` of at most ``max_known_peers`` entries, one per peer, aged by the window of the peer's latest
announcement: `live` returns those announced within ``peer_ttl_windows``.

    reads = AnnounceReads(num_shards=4, per_window=1, rng=random.Random(0))
    reads.next()                      # e.g. [3]; then [0], [1], [2], [3], ...
    table = PeerTable(capacity=256)
    table.add(announcement)           # False when it is older than everything kept in a full table
    table.live(oldest_window=w - 5, exclude=my_peer_id)

Pure bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

import random
from typing import Iterator

from protocol.messages import PeerAnnouncement


class AnnounceReads:
    """Which announce shards a node reads next: ``per_window`` consecutive shards, from a random start."""

    def __init__(self, num_shards: int, per_window: int, rng: random.Random) -> None:
        if num_shards < 1 or per_window < 1:
            raise ValueError(f"num_shards={num_shards} and per_window={per_window} must be at least 1")
        self.num_shards, self.per_window = num_shards, per_window
        self.cursor = rng.randrange(num_shards)
        """The next shard to read: random per node, so readers spread over the shards in every window."""

    def next(self) -> list[int]:
        """The shards of the next read (all of them when there are at most ``per_window``); advances the cursor."""
        if self.num_shards <= self.per_window:
            return list(range(self.num_shards))
        shards = [(self.cursor + i) % self.num_shards for i in range(self.per_window)]
        self.cursor = (self.cursor + self.per_window) % self.num_shards
        return shards


class PeerTable:
    """Verified announcements by peer id, at most ``capacity``; a full table drops its oldest announcement."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be at least 1")
        self.capacity = capacity
        self._by_peer: dict[str, PeerAnnouncement] = {}
        """peer id -> its latest announcement read, least recently refreshed first."""
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_peer)

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._by_peer

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_peer)

    def get(self, peer_id: str) -> PeerAnnouncement | None:
        return self._by_peer.get(peer_id)

    def values(self) -> list[PeerAnnouncement]:
        return list(self._by_peer.values())

    def add(self, announcement: PeerAnnouncement) -> bool:
        """Keep ``announcement`` unless the table holds a later one of its peer, or is full of later ones."""
        peer = announcement.peer_id
        current = self._by_peer.get(peer)
        if current is not None:
            if current.window > announcement.window:
                return False
            del self._by_peer[peer]  # re-inserted last: the most recently refreshed
        elif len(self._by_peer) >= self.capacity and not self._evict_older_than(announcement.window):
            return False
        self._by_peer[peer] = announcement
        return True

    def _evict_older_than(self, window: int) -> bool:
        """Drop the oldest announcement if it is older than ``window`` (ties: the least recently refreshed)."""
        oldest = min(self._by_peer.values(), key=lambda a: a.window)
        if oldest.window >= window:
            return False
        del self._by_peer[oldest.peer_id]
        self.evicted += 1
        return True

    def live(self, oldest_window: int, exclude: str = "") -> list[PeerAnnouncement]:
        """Peers announced in ``oldest_window`` or later, ``exclude`` left out, by peer id; older entries are dropped."""
        for peer in [p for p, a in self._by_peer.items() if a.window < oldest_window]:
            del self._by_peer[peer]
        return sorted((a for a in self._by_peer.values() if a.peer_id != exclude), key=lambda a: a.peer_id)
