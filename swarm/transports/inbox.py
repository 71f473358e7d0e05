"""The receiving side shared by every backend: verify, deduplicate, cap, count, queue.

Every record a transport reads (from the DHT or the in-memory hub) goes through `Inbox.offer`:
`protocol.RecordVerifier` checks it (signature, subkey == signer, bounds, swarm id and secret,
window tolerance, allow list); then it is deduplicated by (peer, batch id) and capped per peer per
window. Rejections are counted by reason in `TransportStats.rejections` and logged once per
(peer, reason) at warning; accepted batches wait in a bounded queue until the node collects them.

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

from protocol.envelope import Envelope
from protocol.keys import subkey_owner
from protocol.messages import PeerAnnouncement, RolloutBatch
from protocol.validation import Received, RecordVerifier, Verdict
from swarm.transports.base import TransportStats
from swarm.transports.peer_score import PeerScores

logger = logging.getLogger(__name__)

_MAX_LOGGED = 4096
"""(peer, reason) pairs remembered for log-once; beyond it, further rejections log at debug only."""


class Inbox:
    """Verified, never-seen batches from other peers, in arrival order, at most ``max_queued``."""

    def __init__(
        self,
        verifier: RecordVerifier,
        stats: TransportStats,
        own_peer_id: str,
        max_per_peer_per_window: int = 4,
        max_queued: int = 256,
    ) -> None:
        self.verifier, self.stats, self.own_peer_id = verifier, stats, own_peer_id
        self.max_per_peer_per_window = max_per_peer_per_window
        self.queue: deque[RolloutBatch] = deque(maxlen=max_queued)
        self._seen: dict[int, dict[tuple[str, str], float]] = {}
        """window -> (peer, batch id) -> wall time it was accepted (dedup, and publish-to-accept latency)."""
        self._per_peer: dict[int, Counter[str]] = {}
        self._logged: set[tuple[str, str]] = set()
        self.dropped_full = 0
        self.scores = PeerScores()
        """Behaviour per peer id, read by flood publishing (`swarm.transports.push`) to rank its targets."""

    # ------------------------------------------------------------ checks

    def seen(self, peer: str, batch_id: str, window: int) -> bool:
        """True if (peer, batch id) was already accepted; lets a caller skip fetching parts again."""
        return (peer, batch_id) in self._seen.get(window, ())

    def accepted_at(self, peer: str, batch_id: str, window: int) -> float | None:
        """Wall time at which (peer, batch id) was accepted, if it was (kept while its window is)."""
        return self._seen.get(window, {}).get((peer, batch_id))

    def check_envelope(self, envelope: Envelope, *, subkey: str, window: int) -> bool:
        """Apply the verifier's envelope checks (subkey, secret, allow list, signature) to e.g. a parts index."""
        record = Received(envelope, None, subkey, window)
        for validator in self.verifier.envelope_validators:
            reason = validator.validate(record)
            if reason is not None:
                self.reject(envelope.signer, reason, type(validator).__name__)
                return False
        return True

    def offer(self, data: bytes, *, subkey: str, window: int, key_ok: bool = True) -> RolloutBatch | None:
        """Verify one sealed record found under (window, subkey); queue and return it if accepted.

        ``key_ok=False`` says the record was found under a shard key other than its signer's own."""
        verdict = self.verifier.verify(data, subkey=subkey, window=window)
        if verdict.accepted and not key_ok:
            verdict = Verdict(False, "wrong_window", "stored under a shard other than its signer's", signer=verdict.signer)
        if not verdict.accepted:
            self.reject(verdict.signer or subkey, verdict.reason, verdict.detail)
            return None
        batch = verdict.message
        if not isinstance(batch, RolloutBatch):
            self.reject(verdict.signer, "schema", f"expected a batch, got {type(batch).__name__}")
            return None
        if batch.sender == self.own_peer_id:
            return None
        if self.seen(batch.sender, batch.batch_id, batch.window):
            # Honest publishers store a batch once, under one subkey: a second copy is a re-send.
            self.reject(batch.sender, "duplicate", f"batch {batch.batch_id!r:.40} already accepted")
            return None
        if self._per_peer.setdefault(batch.window, Counter())[batch.sender] >= self.max_per_peer_per_window:
            self.reject(batch.sender, "over_quota", f"window {batch.window}")
            self.scores.refused(batch.sender, batch.window)  # signature verified: no one else can have signed these
            return None
        self._accept(batch, len(data))
        return batch

    def offer_announcement(self, data: bytes, *, subkey: str, window: int) -> PeerAnnouncement | None:
        """Verify one sealed announcement; rejections are counted like batches'."""
        verdict = self.verifier.verify(data, subkey=subkey, window=window)
        if not verdict.accepted:
            self.reject(verdict.signer or subkey, verdict.reason, verdict.detail)
            return None
        if not isinstance(verdict.message, PeerAnnouncement):
            self.reject(verdict.signer, "schema", "expected an announcement")
            return None
        return verdict.message

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

    def reject(self, peer: str, reason: str, detail: str = "") -> None:
        """Count a rejection; log it at warning the first time this (peer, reason) is seen."""
        self.stats.rejections[reason] += 1
        # per peer, not per slot: junk under fresh slots must not fill the table; another protocol major is
        # one message for the whole swarm (it says which release to install), not one per peer
        key = (subkey_owner(peer), reason) if reason != "version" else ("", reason)
        if key in self._logged or len(self._logged) >= _MAX_LOGGED:
            logger.debug("rejected a record from %s: %s (%s)", peer, reason, detail)
            return
        self._logged.add(key)
        logger.warning("rejected a record from %s: %s (%s); further ones from it logged at debug", peer, reason, detail)

    def take(self, max_batches: int) -> list[RolloutBatch]:
        """Pop up to ``max_batches`` queued batches, oldest first."""
        return [self.queue.popleft() for _ in range(min(max_batches, len(self.queue)))]

    def forget_before(self, window: int) -> None:
        """Drop dedup and quota state of windows older than ``window`` (the verifier refuses them anyway)."""
        for table in (self._seen, self._per_peer):
            for old in [w for w in table if w < window]:
                del table[old]
