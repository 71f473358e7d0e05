"""The last step of receiving a record: verify, deduplicate, cap, count, queue.

Every record that reaches this node (`swarm.transports.receiver.Receiver`: read from the DHT or the
in-memory hub, pushed, or joined from parts) ends in `Inbox.offer`: `protocol.RecordVerifier` checks it
(envelope: subkey == signer, secret, allow list, slot, signature; then bounds, swarm id, window
tolerance); then it is deduplicated by (peer, batch id) and capped per peer per window. Refusals go to
a `RejectionLog` (counted by reason in `TransportStats.rejections`, a bounded few logged); accepted
batches wait in a bounded queue until the node collects them.

    >>> from protocol import Identity, RecordVerifier
    >>> inbox = Inbox(RecordVerifier("testnet"), TransportStats(), own_peer_id="me")
    >>> inbox.offer(b"junk", subkey="someone", window=1) is None, dict(inbox.stats.rejections)
    (True, {'malformed': 1})

Reference: trio `open_memory_channel(max_buffer_size)` for the bounded queue.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque

from protocol.keys import subkey_owner
from protocol.messages import PeerAnnouncement, RolloutBatch
from protocol.validation import RecordVerifier, Verdict
from swarm.transports.base import TransportStats
from swarm.transports.peer_score import PeerScores
from swarm.transports.rejections import RejectionLog, RejectionSink

logger = logging.getLogger(__name__)


class Inbox:
    """Verified, never-seen batches from other peers, in arrival order, at most ``max_queued``."""

    def __init__(
        self,
        verifier: RecordVerifier,
        stats: TransportStats,
        own_peer_id: str,
        max_per_peer_per_window: int = 4,
        max_queued: int = 256,
        reject: RejectionSink | None = None,
    ) -> None:
        """``reject``: where refusals go (default: a `RejectionLog` counting into ``stats.rejections``)."""
        self.verifier, self.stats, self.own_peer_id = verifier, stats, own_peer_id
        self.reject: RejectionSink = reject or RejectionLog(stats.rejections)
        self.max_per_peer_per_window = max_per_peer_per_window
        self.queue: deque[RolloutBatch] = deque(maxlen=max_queued)
        self._seen: dict[int, dict[tuple[str, str], float]] = {}
        """window -> (peer, batch id) -> wall time it was accepted (dedup, and publish-to-accept latency)."""
        self._per_peer: dict[int, Counter[str]] = {}
        self.dropped_full = 0
        self.scores = PeerScores()
        """Behaviour per peer id, read by flood publishing (`swarm.transports.hivemind.push`) to rank its targets."""

    # ------------------------------------------------------------ checks

    def seen(self, peer: str, batch_id: str, window: int) -> bool:
        """True if (peer, batch id) was already accepted; lets a caller skip fetching parts again."""
        return (peer, batch_id) in self._seen.get(window, ())

    def accepted_at(self, peer: str, batch_id: str, window: int) -> float | None:
        """Wall time at which (peer, batch id) was accepted, if it was (kept while its window is)."""
        return self._seen.get(window, {}).get((peer, batch_id))

    def offer(self, data: bytes, *, subkey: str, window: int, key_ok: bool = True) -> RolloutBatch | None:
        """Verify one sealed record found under (window, subkey); queue and return it if accepted.

        ``key_ok=False`` says the record was found under a shard key other than its signer's own."""
        verdict = self.verifier.verify(data, subkey=subkey, window=window)
        if verdict.accepted and not key_ok:
            verdict = Verdict(False, "wrong_window", "stored under a shard other than its signer's", signer=verdict.signer,
                              verified=True)
        if not verdict.accepted:
            self._refuse(verdict, subkey)
            return None
        batch = verdict.message
        if not isinstance(batch, RolloutBatch):
            self.reject("schema", f"expected a batch, got {type(batch).__name__}", signer=verdict.signer)
            return None
        if batch.sender == self.own_peer_id:
            return None
        if self.seen(batch.sender, batch.batch_id, batch.window):
            # Honest publishers store a batch once, under one subkey: a second copy is a re-send.
            self.reject("duplicate", f"batch {batch.batch_id!r:.40} already accepted", signer=batch.sender)
            return None
        if self._per_peer.setdefault(batch.window, Counter())[batch.sender] >= self.max_per_peer_per_window:
            self.reject("over_quota", f"window {batch.window}", signer=batch.sender)
            self.scores.refused(batch.sender, batch.window)  # signature verified: no one else can have signed these
            return None
        self._accept(batch, len(data))
        return batch

    def offer_announcement(self, data: bytes, *, subkey: str, window: int) -> PeerAnnouncement | None:
        """Verify one sealed announcement; rejections are counted like batches'."""
        verdict = self.verifier.verify(data, subkey=subkey, window=window)
        if not verdict.accepted:
            self._refuse(verdict, subkey)
            return None
        if not isinstance(verdict.message, PeerAnnouncement):
            self.reject("schema", "expected an announcement", signer=verdict.signer)
            return None
        return verdict.message

    def _refuse(self, verdict: Verdict, subkey: str) -> None:
        """Report a refused verdict: under its signer once that is verified, else as unauthenticated."""
        claimed = verdict.signer or subkey_owner(subkey)
        self.reject(verdict.reason, verdict.detail, signer=verdict.signer if verdict.verified else None, claimed=claimed)

    # ------------------------------------------------------------ bookkeeping

    def _accept(self, batch: RolloutBatch, size: int) -> None:
        self._seen.setdefault(batch.window, {})[(batch.sender, batch.batch_id)] = time.time()
        self._per_peer[batch.window][batch.sender] += 1
        self.scores.accepted(batch.sender, batch.window)
        self.stats.accepted += 1
        self.stats.bytes_received += size
        if len(self.queue) == self.queue.maxlen:
            self.dropped_full += 1
            logger.debug("inbox full (%d batches): dropping the oldest", self.queue.maxlen)
        self.queue.append(batch)

    def take(self, max_batches: int) -> list[RolloutBatch]:
        """Pop up to ``max_batches`` queued batches, oldest first."""
        return [self.queue.popleft() for _ in range(min(max_batches, len(self.queue)))]

    def forget_before(self, window: int) -> None:
        """Drop dedup and quota state of windows older than ``window`` (the verifier refuses them anyway)."""
        for table in (self._seen, self._per_peer):
            for old in [w for w in table if w < window]:
                del table[old]
