"""Where a record from a peer is received: one path for DHT reads, pushes and pushed parts indexes.

Whichever way a record arrives, it takes the same steps, in this order:

1. dedup: a record version (key, subkey, expiration) is checked once, whichever copy comes first;
2. inline checks: a record stored or pushed whole is at most `Limits.max_inline_record_bytes`;
3. envelope checks, `RecordVerifier.check_envelope` (the method storing DHT replicas call too):
   subkey == signer, swarm tag, encrypted body, allow list, slot cap, signature;
4. decryption, only after those passed, to learn what the body is (batch, announcement, parts index);
5. parts joining, from a given source: the DHT, or the pusher first and the DHT for what it missed;
6. the own-shard check: a batch counts only under its signer's own shard key, an announcement only under
   its signer's own announce shard (then it goes to the bounded `PeerTable`, not the inbox);
7. the offer to the `Inbox` (full verification, dedup by batch id, per-peer quota, bounded queue).

Refusals go to the transport's `RejectionLog` (counted exactly, logged bounded and escaped).

    receiver = Receiver(config, inbox, store)
    if receiver.is_new(key, subkey, expiration, window):             # ShardedTransport._read
        receiver.claim(key, subkey, expiration, window)
        await receiver.accept_read(key, window, subkey, value)
    receiver.accept_pushed(key, window, subkey, value, expiration, source=libp2p_id)   # Pusher
"""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable, Protocol

from protocol.envelope import Envelope
from protocol.errors import ProtocolError
from protocol.keys import announce_key, is_announce_key, record_key, shard_of, subkey_owner
from protocol.parts import PartsIndex, body_type, join_parts, read_index
from protocol.validation import RecordVerifier, WindowClock
from swarm.transports.chunks import RecordStore, fetch_part_values, fetch_parts
from swarm.transports.config import TransportConfig
from swarm.transports.inbox import Inbox
from swarm.transports.peer_score import PeerScores
from swarm.transports.peer_table import PeerTable
from swarm.transports.rejections import RejectionSink

logger = logging.getLogger(__name__)

MAX_DIRECT_FETCHES = 16
"""Pushed parts indexes whose parts are fetched at once; further ones are left to the DHT read."""


class PartsSource(Protocol):
    """Parts fetched straight from a peer (`swarm.transports.hivemind.direct_parts.DirectParts`)."""

    async def fetch(self, source: str, digests: Iterable[str]) -> dict[str, bytes]:
        """digest -> part from ``source`` (a libp2p peer id), only parts whose sha256 matches; missing ones left out."""


def build_verifier(config: TransportConfig, window_clock: WindowClock | None = None) -> RecordVerifier:
    """The record checks of a swarm, as a node's receivers and every storing replica apply them."""
    return RecordVerifier(
        config.swarm_id, config.swarm_secret.encode() if config.swarm_secret else None,
        frozenset(config.allowed_peers) if config.allowed_peers is not None else None,
        window_clock=window_clock, max_window_age=max(config.windows_per_collect, config.record_ttl_windows),
        max_slots=config.max_records_per_peer_per_window,
    )


class Receiver:
    """The receive path of one transport (module docstring); ``direct`` is set where parts come from pushers too."""

    def __init__(self, config: TransportConfig, inbox: Inbox, store: RecordStore, direct: PartsSource | None = None) -> None:
        self.config, self.inbox, self.store, self.direct = config, inbox, store, direct
        self.verifier: RecordVerifier = inbox.verifier
        self.reject: RejectionSink = inbox.reject
        self.scores: PeerScores = inbox.scores
        """Behaviour per peer, read by flood publishing to rank its targets and fed by it with pushers' refusals."""
        self.announcements = PeerTable(config.max_known_peers)
        """Verified announcements by peer id (at most ``max_known_peers``), latest refreshed last."""
        self._processed: dict[int, dict[tuple[str, str], float]] = {}
        """window -> (key, subkey) -> expiration of the record version already checked."""
        self._direct_fetches: set[asyncio.Task] = set()
        """Background fetches of pushed parts indexes' parts, at most `MAX_DIRECT_FETCHES` at once."""

    # ------------------------------------------------------------ dedup

    def is_new(self, key: str, subkey: str, expiration: float, window: int) -> bool:
        """False for a record version already checked, so each is verified and counted only once."""
        return self._processed.get(window, {}).get((key, subkey)) != expiration

    def claim(self, key: str, subkey: str, expiration: float, window: int) -> None:
        """Mark a record version as checked (before its check starts: a concurrent copy is then skipped)."""
        self._processed.setdefault(window, {})[(key, subkey)] = expiration

    def _unclaim(self, key: str, subkey: str, window: int) -> None:
        """Let the next collect read a record again (its parts may still be replicating)."""
        self._processed.get(window, {}).pop((key, subkey), None)

    def forget_before(self, window: int) -> None:
        """Drop the dedup state of windows older than ``window`` (their records are refused anyway)."""
        self.inbox.forget_before(window)
        for old in [w for w in self._processed if w < window]:
            del self._processed[old]

    def refused(self) -> int:
        """Refusals counted so far, all reasons (a caller compares before and after one record)."""
        return self.inbox.stats.rejections.total()

    def processed(self) -> int:
        """Record versions remembered (a bound a flood must not grow without limit)."""
        return sum(map(len, self._processed.values()))

    # ------------------------------------------------------------ the ways in

    async def accept_read(self, key: str, window: int, subkey: str, value: object) -> None:
        """A record read from the store under (key, subkey): an announcement or a batch (whole or as parts)."""
        if not isinstance(value, bytes):
            self.reject("malformed", f"value of type {type(value).__name__}", claimed=subkey_owner(subkey))
            return
        if is_announce_key(key):
            self._accept_announcement(key, window, subkey, value)
            return
        try:
            opened = self._open(value, subkey)
            if opened is None:
                return
            envelope, kind, plain = opened
            if kind == "parts":
                value = await self._join(key, window, subkey, envelope, plain)
                if value is None:
                    return
        except ProtocolError as exc:
            if exc.reason == "incomplete":  # parts may still be replicating: retry on the next collect
                self._unclaim(key, subkey, window)
            self.reject(exc.reason, exc.detail, claimed=subkey_owner(subkey))
            return
        self._offer(key, window, subkey, value)

    def accept_pushed(self, key: str, window: int, subkey: str, value: bytes, expiration: float,
                      source: str | None = None) -> bool:
        """A record a peer pushed to us: the checks of a DHT read, once per (key, subkey, expiration).
        A parts index (pushed by ``source``, a libp2p peer id) has its parts fetched in the background."""
        if not self.is_new(key, subkey, expiration, window):
            return True  # the DHT copy was read first
        try:
            opened = self._open(value, subkey)
            if opened is None:
                return False
            envelope, kind, plain = opened
            if kind == "parts" and self.direct is not None and source is not None:
                return self._accept_pushed_index(key, window, subkey, envelope, plain, expiration, source)
            if kind != "batch":
                raise ProtocolError("schema", "only batches are pushed")
        except ProtocolError as exc:
            self.reject(exc.reason, f"pushed: {exc.detail}", claimed=subkey_owner(subkey))
            return False
        if not self._offer(key, window, subkey, value):
            return False
        self.claim(key, subkey, expiration, window)  # so the DHT copy is not read again
        return True

    # ------------------------------------------------------------ steps

    def _accept_announcement(self, key: str, window: int, subkey: str, value: bytes) -> None:
        """A verified announcement counts only under its signer's own announce shard: a peer that announces
        under every shard would otherwise be sampled more often (pushes, J) than its share."""
        announcement = self.inbox.offer_announcement(value, subkey=subkey, window=window)
        if announcement is None:
            return
        own = announce_key(self.config.swarm_id, window, shard_of(announcement.peer_id, self.config.announce_shards))
        if key != own:
            self.reject("wrong_window", "announcement under a shard other than its signer's", signer=announcement.peer_id)
            return
        self.announcements.add(announcement)

    def _open(self, value: bytes, subkey: str) -> tuple[Envelope, str, bytes | None] | None:
        """Steps 2-4: (envelope, body type, plaintext if already decrypted); None if refused and counted.
        An encrypted body is decrypted only after its envelope checks (tag, signature) pass; a clear one is
        only peeked at, and fully checked at the offer. `ProtocolError` if unreadable."""
        envelope = self.verifier.open_inline(value)
        if not envelope.encrypted:  # a clear body in a private swarm is refused by the full checks later
            return envelope, body_type(envelope.body, self.verifier.limits), None
        if not self._envelope_ok(envelope, subkey):
            return None
        plain = self.verifier.plaintext(envelope)
        return envelope, body_type(plain, self.verifier.limits), plain

    def _envelope_ok(self, envelope: Envelope, subkey: str) -> bool:
        verdict = self.verifier.check_envelope(envelope, subkey)
        if verdict is not None:
            self.reject(verdict.reason, verdict.detail, claimed=verdict.signer)
        return verdict is None

    def _index(self, envelope: Envelope, subkey: str, plain: bytes | None) -> PartsIndex | None:
        """A parts index whose envelope checks passed (checked here unless done at decryption)."""
        if plain is None:
            if not self._envelope_ok(envelope, subkey):
                return None
            plain = self.verifier.plaintext(envelope)
        return read_index(plain, self.verifier.limits)

    async def _join(self, key: str, window: int, subkey: str, envelope: Envelope, plain: bytes | None) -> bytes | None:
        """Step 5 from the store: the joined record of a parts index; None if refused or already accepted."""
        index = self._index(envelope, subkey, plain)
        if index is None or self.inbox.seen(subkey_owner(subkey), index.batch_id, window):
            return None
        return await fetch_parts(self.store, key, index, self.config.request_timeout_s)

    def _accept_pushed_index(self, key: str, window: int, subkey: str, envelope: Envelope, plain: bytes | None,
                             expiration: float, source: str) -> bool:
        """Check a pushed parts index, then fetch its parts from ``source`` in the background. `ProtocolError` if
        the index is unreadable; False (left to the DHT read) while too many fetches run."""
        index = self._index(envelope, subkey, plain)
        if index is None:
            return False
        if not self.inbox.seen(subkey_owner(subkey), index.batch_id, window):
            if len(self._direct_fetches) >= MAX_DIRECT_FETCHES:
                return False
            task = asyncio.create_task(self._fetch_pushed_parts(key, window, subkey, index, source))
            self._direct_fetches.add(task)
            task.add_done_callback(self._direct_fetches.discard)
        self.claim(key, subkey, expiration, window)  # so the DHT copy is not read again
        return True

    async def _fetch_pushed_parts(self, key: str, window: int, subkey: str, index: PartsIndex, source: str) -> None:
        """Step 5 from a pusher: parts from ``source``, the DHT for any it did not serve right; join and offer."""
        assert self.direct is not None
        try:
            found = await self.direct.fetch(source, index.parts)
            missing = [d for d in index.parts if d not in found]
            if missing:
                found.update(await fetch_part_values(self.store, key, missing, self.config.request_timeout_s))
            value = join_parts(index, found)
        except ProtocolError as exc:  # parts may still be replicating: the next collect reads the DHT copy
            self._unclaim(key, subkey, window)
            self.reject(exc.reason, f"pushed index: {exc.detail}", claimed=subkey_owner(subkey))
            return
        self._offer(key, window, subkey, value)

    def _offer(self, key: str, window: int, subkey: str, value: bytes) -> bool:
        """Steps 6-7: the own-shard check, then the inbox's; True if the batch was accepted."""
        own_key = record_key(self.config.swarm_id, window, shard_of(subkey_owner(subkey), self.config.num_shards))
        return self.inbox.offer(value, subkey=subkey, window=window, key_ok=key == own_key) is not None

    def stop(self) -> None:
        """Cancel the background part fetches (transport shutdown)."""
        for task in list(self._direct_fetches):
            task.cancel()
