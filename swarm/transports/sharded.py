"""Sharded gossip over any `RecordStore`: the publish/collect logic both backends share.

Records sit under ``record_key(swarm_id, window, shard)`` with the publisher's peer id as subkey,
window = floor(DHT time / window_seconds) and shard = sha256(peer id) mod num_shards. A collect reads
``shards_per_collect`` random shards of each of the last ``windows_per_collect`` windows at once
(and of every window since the previous collect while its records live; one more shard when they
come back thin), so no key is hot and per-node cost stays flat as the
swarm grows; SAPO samples peers uniformly anyway. Announcements sit under ``announce_key(window)``.

    transport = MemoryTransport(config, identity, hub)      # or HivemindTransport.create(...)
    await transport.publish(batch)                          # batch.window = current window
    fresh = await transport.collect(max_batches=8)          # verified, never seen before

Every network result may be empty or time out: it is then treated as empty, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Callable

from protocol.clock import now
from protocol.envelope import Envelope, open_envelope, seal
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.keys import announce_key, record_key, record_subkey, shard_of, subkey_owner, subkey_slot, window_of
from protocol.messages import PeerAnnouncement, RolloutBatch
from protocol.parts import PartsIndex, body_type, check_inline, join_parts, read_index
from protocol.validation import RecordVerifier
from protocol.versions import package_version
from swarm.transports.base import PublishReceipt, Transport, TransportStats
from swarm.transports.chunks import RecordStore, Records, fetch_part_values, fetch_parts, gather_partial, store_parts
from swarm.transports.config import TransportConfig
from swarm.transports.inbox import Inbox

logger = logging.getLogger(__name__)

MAX_DIRECT_FETCHES = 16
"""Pushed parts indexes whose parts are fetched at once; further ones are left to the DHT read."""


class ShardedTransport(Transport):
    """`Transport` over a `RecordStore`; subclasses provide the store and start/stop."""

    store: RecordStore

    def __init__(self, config: TransportConfig, identity: Identity, *, clock: Callable[[], float] = now) -> None:
        self.config, self.identity, self.clock = config, identity, clock
        self.peer_id = identity.peer_id
        self.secret = config.swarm_secret.encode() if config.swarm_secret else None
        self.stats = TransportStats()
        allowed = frozenset(config.allowed_peers) if config.allowed_peers is not None else None
        verifier = RecordVerifier(
            config.swarm_id, self.secret, allowed, window_clock=self.window,
            max_window_age=max(config.windows_per_collect, config.record_ttl_windows),
        )
        self.inbox = Inbox(verifier, self.stats, self.peer_id, config.max_records_per_peer_per_window, config.inbox_size)
        self.rng = random.Random()
        self.addresses: tuple[str, ...] = ()
        self.model, self.hardware, self.software_version = "", "", package_version()
        """Advertised in announcements; the node may set them before the first round."""
        self._peers: dict[str, PeerAnnouncement] = {}
        self._announced_window: int | None = None
        self._peers_read_window: int | None = None
        self._processed: dict[int, dict[tuple[str, str], float]] = {}
        self._slots: dict[int, int] = {}
        """Records published per window: each gets its own subkey slot, up to the per-peer cap."""
        self._first_publish_window: int | None = None
        """Window current at this process's first publish: slots used up to it are read from the store."""
        self._last_collect_window: int | None = None
        """Window of the previous collect: the next one reads every window since (within the record lifetime)."""
        self._complete: dict[int, set[str]] = {}
        """Keys of closed windows read once after closing: nothing new can appear there."""
        self.pusher: Any = None
        """`swarm.transports.push.Pusher` where the backend can push records straight to peers."""
        self.direct_parts: Any = None
        """`swarm.transports.direct_parts.DirectParts` where the backend serves and fetches parts directly."""
        self._direct_fetches: set[asyncio.Task] = set()
        """Background fetches of pushed parts indexes' parts, at most `MAX_DIRECT_FETCHES` at once."""

    def window(self) -> int:
        """The current time window of DHT time."""
        return window_of(self.clock(), self.config.window_seconds)

    def _expiration(self) -> float:
        return self.store.time() + self.config.record_ttl_windows * self.config.window_seconds

    # ------------------------------------------------------------ publish

    async def publish(self, batch: RolloutBatch) -> PublishReceipt:
        if batch.sender != self.peer_id:
            raise ValueError(f"batch.sender {batch.sender!r} is not this node's peer id {self.peer_id!r}")
        key = record_key(self.config.swarm_id, batch.window, shard_of(self.peer_id, self.config.num_shards))
        slot = await self._next_slot(batch.window, key)
        if slot is None:
            self.stats.skipped_publishes += 1
            logger.debug("window %d already holds %d of our batches: %s not published", batch.window,
                         self.config.max_records_per_peer_per_window, batch.batch_id)
            return PublishReceipt(key, False, 0, 0)
        sealed, parts, parts_ok = seal(batch, self.identity, self.secret), 1, True
        expiration, timeout = self._expiration(), self.config.collect_timeout_s
        bytes_sent, split = len(sealed), len(sealed) > self.config.part_threshold_bytes
        if split:
            index, parts, parts_ok = await store_parts(
                self.store, key, sealed, batch, self.identity, part_bytes=self.config.part_bytes,
                expiration=expiration, swarm_secret=self.secret, timeout=timeout,
                keep=self.direct_parts.cache.keep if self.direct_parts is not None else None,
            )
            sealed, bytes_sent = index, bytes_sent + len(index)
        subkey = record_subkey(self.peer_id, slot)
        if self.pusher is not None and (not split or self.direct_parts is not None):  # an index only if we serve its parts
            self.pusher.push(key, subkey, sealed, expiration)  # first: delivery does not wait for the slowest replica
        (stored,), _ = await asyncio.gather(gather_partial([self.store.store(key, subkey, sealed, expiration)], timeout),
                                            self._announce())
        receipt = PublishReceipt(key, bool(stored) and parts_ok, bytes_sent, parts)
        self.stats.published += 1
        self.stats.bytes_sent += bytes_sent
        if not receipt.stored:
            logger.debug("batch %s under %s was not stored by any peer", batch.batch_id, key)
        return receipt

    async def _announce(self) -> None:
        """Store a sealed `PeerAnnouncement` once per window (called from publish and collect)."""
        window = self.window()
        if self._announced_window == window:
            return
        self._announced_window = window
        msg = PeerAnnouncement(
            self.peer_id, self.model, self.hardware, self.software_version, self.addresses[:16],
            self.clock(), self.config.swarm_id, window,
        )
        key = announce_key(self.config.swarm_id, window)
        await gather_partial([self.store.store(key, self.peer_id, seal(msg, self.identity, self.secret), self._expiration())], self.config.collect_timeout_s)

    async def _next_slot(self, window: int, key: str) -> int | None:
        """Subkey slot of the next record in `window`, or None once the receivers' per-peer cap is
        reached: an honest node never publishes what its peers must refuse as over quota."""
        used = self._slots.get(window)
        if used is None:
            used = await self._slots_already_used(window, key)
        if used >= self.config.max_records_per_peer_per_window:
            return None
        self._slots = {window: used + 1}  # older windows are closed for publishing
        return used

    async def _slots_already_used(self, window: int, key: str) -> int:
        """Slots of `window` that an earlier run of this node may have filled (a restart within the
        window): one past the highest of our own subkeys under our shard key, else the next publish
        would overwrite an acknowledged record. The store is read once, at the first publish of this
        process; a later window began while no earlier run could publish under our key (0 used)."""
        if self._first_publish_window is None:
            self._first_publish_window = max(self.window(), window)
        if window > self._first_publish_window:
            return 0
        (records,) = await gather_partial([self.store.get(key)], self.config.collect_timeout_s)
        slots = [subkey_slot(sk) for sk in (records or {}) if subkey_owner(sk) == self.peer_id]
        return max((s + 1 for s in slots if s is not None), default=0)

    # ------------------------------------------------------------ collect

    async def collect(self, max_batches: int) -> list[RolloutBatch]:
        window = self.window()
        self._forget_before(window - max(self.config.windows_per_collect, self.config.record_ttl_windows) - 1)
        budget = max_batches - len(self.inbox.queue)
        plan = self._plan(window) if budget > 0 else []  # pushes already brought enough: read no batch keys
        await self._read(plan + self._announce_plan(window), budget=budget)
        if len(self.inbox.queue) < max_batches:
            extra = self._one_more_shard(window, {key for key, _ in plan})
            await self._read(extra, budget=max_batches - len(self.inbox.queue))
        await self._announce()
        self._last_collect_window = window
        return self.inbox.take(max_batches)

    def _windows_to_read(self, window: int) -> range:
        """The `windows_per_collect` most recent windows, and every earlier one since the previous collect
        whose records are still alive: a node that collects less often than that skips no window."""
        first = window - self.config.windows_per_collect + 1
        if self._last_collect_window is not None:
            first = min(first, max(self._last_collect_window, window - self.config.record_ttl_windows))
        return range(first, window + 1)

    def _plan(self, window: int) -> list[tuple[str, int]]:
        """Random shards of each window to read, skipping keys already read after their window closed."""
        cfg, plan = self.config, []
        for w in self._windows_to_read(window):
            keys = [record_key(cfg.swarm_id, w, s) for s in range(cfg.num_shards)]
            open_keys = [k for k in keys if k not in self._complete.get(w, ())]
            plan += [(k, w) for k in self.rng.sample(open_keys, min(cfg.shards_per_collect, len(open_keys)))]
        return plan

    def _closed(self, window: int) -> bool:
        """True once no honest record can still arrive under ``window`` (publishers key by the current window)."""
        return self.clock() >= (window + 1.25) * self.config.window_seconds

    def _one_more_shard(self, window: int, read: set[str]) -> list[tuple[str, int]]:
        cfg = self.config
        unread = [
            (record_key(cfg.swarm_id, w, s), w)
            for w in self._windows_to_read(window)
            for s in range(cfg.num_shards)
            if record_key(cfg.swarm_id, w, s) not in read | self._complete.get(w, set())
        ]
        return [self.rng.choice(unread)] if unread else []

    def _announce_plan(self, window: int) -> list[tuple[str, int]]:
        """Read announcements once per window (and while no peer is known yet)."""
        if self._peers_read_window == window and self._peers:
            return []
        self._peers_read_window = window
        return [(announce_key(self.config.swarm_id, w), w) for w in (window - 1, window)]

    async def _read(self, plan: list[tuple[str, int]], budget: int | None = None) -> None:
        """Read the planned keys; verify (and fetch the parts of) at most `budget` new batch records,
        chosen uniformly, so a node's cost per round follows what it needs, not the swarm's size.
        Records left over stay in the DHT for a later collect."""
        results = await gather_partial((self.store.get(key) for key, _ in plan), self.config.collect_timeout_s)
        found = [
            (key, window, subkey, value, expiration)
            for (key, window), records in zip(plan, results)
            for subkey, (value, expiration) in (records or {}).items()
            if subkey_owner(subkey) != self.peer_id and self._is_new(key, subkey, expiration, window)
        ]
        self.rng.shuffle(found)
        chosen, deferred = [], set()
        for record in found:
            if budget is not None and not record[0].endswith("/peers"):
                if budget <= 0:
                    deferred.add(record[0])
                    continue
                budget -= 1
            self._processed.setdefault(record[1], {})[(record[0], record[2])] = record[4]
            chosen.append(record)
        for (key, w), records in zip(plan, results):
            if records is not None and self._closed(w) and key not in deferred:
                self._complete.setdefault(w, set()).add(key)
        await gather_partial([self._accept(k, w, sk, v) for k, w, sk, v, _ in chosen], 2 * self.config.collect_timeout_s)

    def _is_new(self, key: str, subkey: str, expiration: float, window: int) -> bool:
        """False for a record version already verified, so each is verified and counted only once."""
        return self._processed.get(window, {}).get((key, subkey)) != expiration

    async def _accept(self, key: str, window: int, subkey: str, value: object) -> None:
        if not isinstance(value, bytes):
            self.inbox.reject(subkey, "malformed", f"value of type {type(value).__name__}")
            return
        if key.endswith("/peers"):
            announcement = self.inbox.offer_announcement(value, subkey=subkey, window=window)
            if announcement is not None:
                self._peers[announcement.peer_id] = announcement
            return
        try:
            check_inline(value, self.inbox.verifier.limits)
            envelope = open_envelope(value, self.inbox.verifier.limits)
            kind = self._body_type(envelope, subkey, window)
            if kind is None:
                return
            if kind == "parts":
                value = await self._join(key, window, subkey, envelope)
                if value is None:
                    return
        except ProtocolError as exc:
            if exc.reason == "incomplete":  # parts may still be replicating: retry on the next collect
                self._processed.get(window, {}).pop((key, subkey), None)
            self.inbox.reject(subkey, exc.reason, exc.detail)
            return
        own_key = record_key(self.config.swarm_id, window, shard_of(subkey_owner(subkey), self.config.num_shards))
        self.inbox.offer(value, subkey=subkey, window=window, key_ok=key == own_key)

    def accept_pushed(self, key: str, window: int, subkey: str, value: bytes, expiration: float, source: str | None = None) -> bool:
        """A record a peer pushed to us: the checks of a DHT read, once per (key, subkey, expiration).
        A parts index (pushed by ``source``, a libp2p peer id) has its parts fetched in the background."""
        if self._processed.get(window, {}).get((key, subkey)) == expiration:
            return True  # the DHT copy was read first
        try:
            check_inline(value, self.inbox.verifier.limits)
            envelope = open_envelope(value, self.inbox.verifier.limits)
            kind = self._body_type(envelope, subkey, window)
            if kind is None:
                return False
            if kind == "parts" and self.direct_parts is not None and source is not None:
                return self._accept_pushed_index(key, window, subkey, envelope, expiration, source)
            if kind != "batch":
                raise ProtocolError("schema", "only batches are pushed")
        except ProtocolError as exc:
            self.inbox.reject(subkey, exc.reason, f"pushed: {exc.detail}")
            return False
        own_key = record_key(self.config.swarm_id, window, shard_of(subkey_owner(subkey), self.config.num_shards))
        accepted = self.stats.accepted
        self.inbox.offer(value, subkey=subkey, window=window, key_ok=key == own_key)
        if self.stats.accepted == accepted:
            return False
        self._processed.setdefault(window, {})[(key, subkey)] = expiration  # so the DHT copy is not read again
        return True

    def _accept_pushed_index(self, key: str, window: int, subkey: str, envelope: Envelope, expiration: float, source: str) -> bool:
        """Check a pushed parts index as `_join` does, then fetch its parts from ``source`` in the background.
        `ProtocolError` if the index is unreadable; False (left to the DHT read) while too many fetches run."""
        if not self.inbox.check_envelope(envelope, subkey=subkey, window=window):
            return False
        index = read_index(self.inbox.verifier.plaintext(envelope), self.inbox.verifier.limits)
        if not self.inbox.seen(subkey_owner(subkey), index.batch_id, window):
            if len(self._direct_fetches) >= MAX_DIRECT_FETCHES:
                return False
            task = asyncio.create_task(self._fetch_pushed_parts(key, window, subkey, index, source))
            self._direct_fetches.add(task)
            task.add_done_callback(self._direct_fetches.discard)
        self._processed.setdefault(window, {})[(key, subkey)] = expiration  # so the DHT copy is not read again
        return True

    async def _fetch_pushed_parts(self, key: str, window: int, subkey: str, index: PartsIndex, source: str) -> None:
        """Parts from their pusher, the DHT for any it did not serve right; join (hashes checked) and offer."""
        try:
            found = await self.direct_parts.fetch(source, index.parts)
            missing = [d for d in index.parts if d not in found]
            if missing:
                found.update(await fetch_part_values(self.store, key, missing, self.config.collect_timeout_s))
            value = join_parts(index, found)
        except ProtocolError as exc:  # parts may still be replicating: the next collect reads the DHT copy
            self._processed.get(window, {}).pop((key, subkey), None)
            self.inbox.reject(subkey, exc.reason, f"pushed index: {exc.detail}")
            return
        own_key = record_key(self.config.swarm_id, window, shard_of(subkey_owner(subkey), self.config.num_shards))
        self.inbox.offer(value, subkey=subkey, window=window, key_ok=key == own_key)

    async def _join(self, key: str, window: int, subkey: str, envelope: Envelope) -> bytes | None:
        """Check a parts index's envelope, fetch its parts; None if refused or already seen."""
        if not self.inbox.check_envelope(envelope, subkey=subkey, window=window):
            return None
        index = read_index(self.inbox.verifier.plaintext(envelope), self.inbox.verifier.limits)
        if self.inbox.seen(subkey_owner(subkey), index.batch_id, window):
            return None
        return await fetch_parts(self.store, key, index, self.config.collect_timeout_s)

    def _body_type(self, envelope: Envelope, subkey: str, window: int) -> str | None:
        """Message type of a record ("batch", "parts", ...). An encrypted body is opened only after its
        envelope checks (tag, signature) pass; None: refused and counted. `ProtocolError` if unreadable."""
        limits = self.inbox.verifier.limits
        if not envelope.encrypted:  # a clear body in a private swarm is refused by the full checks later
            return body_type(envelope.body, limits)
        if not self.inbox.check_envelope(envelope, subkey=subkey, window=window):
            return None
        return body_type(self.inbox.verifier.plaintext(envelope), limits)

    def _forget_before(self, window: int) -> None:
        self.inbox.forget_before(window)
        for table in (self._processed, self._complete):
            for old in [w for w in table if w < window]:
                del table[old]

    # ------------------------------------------------------------ peers

    def peers(self) -> list[PeerAnnouncement]:
        """Peers announced within the record lifetime (other than this node): live, give or take a window."""
        oldest = self.window() - self.config.record_ttl_windows
        return sorted((a for a in self._peers.values() if a.window >= oldest and a.peer_id != self.peer_id), key=lambda a: a.peer_id)
