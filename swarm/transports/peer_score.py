"""Per-peer behaviour scores that steer flood publishing away from peers that send us garbage.

gossipsub v1.1 scores its peers and floods new messages to the well-scored ones first. Here a node
counts, per peer, the records it accepted from it and those it refused (over quota, malformed, bad
signature, ...), both decayed each window so that a peer recovers once it behaves. `Pusher.push`
then fills its `push_fanout` slots with the peers that have no recent refusal first (those we
recently accepted records from before silent ones; random order within each, so honest load stays
uniform), then the others by score: admitted keys that flood, or that sit silent, can no longer take
an active honest peer's slot, and a swarm with at most `push_fanout` well-behaved peers pushes to all
of them.

Only evidence the peer cannot have been framed with is counted: the libp2p id of the connection
that pushed the bytes (authenticated by the secure channel; `Pusher._receive`), and a signer whose
signature verified: a batch accepted, or more distinct batches signed for one window than the quota
allows (`Inbox.offer`). A refusal reported under a claimed signer before its signature checks out
(the DHT validator's), or a duplicate or stale copy (anyone can replay a signed record), is not
counted against the signer, else an attacker could push honest peers out.

    scores = PeerScores()
    scores.refused("QmAttacker", window=7)
    scores.accepted("QmHonest", window=7)
    order = scores.rank([Candidate(target, ("QmHonest", "sapo-id")), ...], rng, limit=8)

The table is bounded (`max_peers`): junk under ever new ids cannot grow it, and evicting keeps the
peers with the most refusals (an evicted entry reads as a fresh, clean peer).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

T = TypeVar("T")

REFUSAL_WEIGHT = 10.0
"""One refused record outweighs this many accepted ones in `PeerScores.score`."""


@dataclass
class Behaviour:
    """Decayed counts of one peer's records: accepted and refused."""

    accepted: float = 0.0
    refused: float = 0.0


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """A push target and the ids its behaviour may be recorded under (libp2p id, sapo peer id)."""

    target: T
    ids: tuple[str, ...]


class PeerScores:
    """Decayed accepted/refused counts per peer id, at most ``max_peers`` ids.

    ``decay``: factor applied to every count per window elapsed (0.5: a refusal weighs half a window
    later). A peer is *clean* while its decayed refusals stay under ``clean_below``."""

    def __init__(self, max_peers: int = 1024, decay: float = 0.5, clean_below: float = 1.0) -> None:
        assert max_peers >= 2 and 0.0 <= decay < 1.0 and clean_below > 0.0
        self.max_peers, self.decay, self.clean_below = max_peers, decay, clean_below
        self._table: dict[str, Behaviour] = {}
        self._window: int | None = None

    def __len__(self) -> int:
        return len(self._table)

    # ------------------------------------------------------------ evidence

    def accepted(self, peer: str, window: int) -> None:
        self._entry(peer, window).accepted += 1.0

    def refused(self, peer: str, window: int) -> None:
        self._entry(peer, window).refused += 1.0

    def _entry(self, peer: str, window: int) -> Behaviour:
        self._advance(window)
        entry = self._table.get(peer)
        if entry is None:
            entry = self._table[peer] = Behaviour()
            if len(self._table) > self.max_peers:
                self._evict()
        return entry

    def _advance(self, window: int) -> None:
        """Decay every count once per window elapsed; drop entries that decayed to nothing."""
        if self._window is None:
            self._window = window
        if window <= self._window:
            return
        factor = self.decay ** min(window - self._window, 64)
        self._window = window
        for peer, entry in list(self._table.items()):
            entry.accepted *= factor
            entry.refused *= factor
            if entry.accepted < 0.05 and entry.refused < 0.05:
                del self._table[peer]

    def _evict(self) -> None:
        """Keep the half of the table with the most refusals (amortised: one sort per max_peers/2 new ids)."""
        kept = sorted(self._table.items(), key=lambda item: (item[1].refused, item[1].accepted), reverse=True)
        self._table = dict(kept[: self.max_peers // 2])

    # ------------------------------------------------------------ reading

    def behaviour(self, ids: Sequence[str]) -> Behaviour:
        """A peer's counts summed over its ids (its libp2p id and its sapo peer id)."""
        entries = [e for i in ids if (e := self._table.get(i)) is not None]
        return Behaviour(sum(e.accepted for e in entries), sum(e.refused for e in entries))

    def clean(self, ids: Sequence[str]) -> bool:
        return self.behaviour(ids).refused < self.clean_below

    def score(self, ids: Sequence[str]) -> float:
        """Accepted minus `REFUSAL_WEIGHT` x refused records."""
        b = self.behaviour(ids)
        return b.accepted - REFUSAL_WEIGHT * b.refused

    def rank(self, candidates: Sequence[Candidate[T]], rng: random.Random, limit: int) -> list[T]:
        """Up to ``limit`` targets: clean peers we recently accepted records from, then clean peers we know
        nothing of (silent or new), each tier in random order, then the others best score first. With no
        evidence on record this is a uniform random sample."""
        ordered = list(candidates)
        rng.shuffle(ordered)  # random order within a tier: sort() is stable
        ordered.sort(key=lambda c: self._tier(c.ids))
        return [c.target for c in ordered[:limit]]

    def _tier(self, ids: Sequence[str]) -> tuple[int, float]:
        b = self.behaviour(ids)
        if b.refused < self.clean_below:
            return (0 if b.accepted > 0 else 1, 0.0)
        return (2, REFUSAL_WEIGHT * b.refused - b.accepted)
