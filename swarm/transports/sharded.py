"""Sharded gossip over any `RecordStore`: the publish/collect logic both backends share.

Records sit under ``record_key(swarm_id, window, shard)`` with the publisher's peer id as subkey,
window = floor(DHT time / window_seconds) and shard = sha256(peer id) mod num_shards. A collect reads
``shards_per_collect`` random shards of each of the last ``windows_per_collect`` windows at once
(and of every window since the previous collect while its records live; one more shard when they
come back thin), so no key is hot and per-node cost stays flat as the
swarm grows; SAPO samples peers uniformly anyway. Announcements are sharded the same way, under
``announce_key(window, shard_of(peer id, announce_shards))``: a node reads a few announce shards per window, in
turn, into a bounded peer table (`swarm.transports.peer_table`), so no key is read by the whole swarm either.

    transport = MemoryTransport(config, identity, hub)      # or HivemindTransport.create(...)
    await transport.publish(batch)                          # batch.window = current window
    fresh = await transport.collect(max_batches=8)          # verified, never seen before

Every network result may be empty or time out: it is then treated as empty, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Callable, Protocol

from protocol.clock import now
from protocol.envelope import seal
from protocol.identity import Identity
from protocol.keys import (announce_key, is_announce_key, record_key, record_subkey, shard_of, subkey_owner, subkey_slot,
                           window_of)
from protocol.messages import PeerAnnouncement, RolloutBatch
from protocol.versions import package_version
from swarm.transports.base import PublishReceipt, Transport, TransportStats
from swarm.transports.chunks import RecordStore, gather_partial, store_parts
from swarm.transports.config import TransportConfig
from swarm.transports.inbox import Inbox
from swarm.transports.peer_table import AnnounceReads
from swarm.transports.receiver import Receiver, build_verifier
from swarm.transports.rejections import RejectionLog

logger = logging.getLogger(__name__)


class RecordPusher(Protocol):
    """Flood publishing (`swarm.transports.hivemind.push.Pusher`), where the backend has it."""

    def push(self, key: str, subkey: str, value: bytes, expiration: float) -> None:
        """Called by publish for each record, before its DHT store: push it to a few admitted peers."""


class PartsKeeper(Protocol):
    """Own recent parts kept for direct fetches (`swarm.transports.hivemind.direct_parts.PartCache`)."""

    def keep(self, parts: dict[str, bytes], expiration: float) -> None:
        """Called by publish with the parts of each split record."""


class ShardedTransport(Transport):
    """`Transport` over a `RecordStore`; subclasses provide the store and start/stop."""

    def __init__(self, config: TransportConfig, identity: Identity, store: RecordStore, *,
                 clock: Callable[[], float] = now) -> None:
        self.config, self.identity, self.clock = config, identity, clock
        self.peer_id = identity.peer_id
        self.secret = config.swarm_secret.encode() if config.swarm_secret else None
        self.stats = TransportStats()
        self.rejection_log = RejectionLog(self.stats.rejections)
        """Every refusal of this node (receivers and, in the DHT backend, its replica): counted, logged bounded."""
        inbox = Inbox(build_verifier(config, self.window), self.stats, self.peer_id, config.max_records_per_peer_per_window,
                      config.inbox_size, reject=self.rejection_log)
        self.receiver = Receiver(config, inbox, store)
        self.rng = random.Random()
        self.addresses: tuple[str, ...] = ()
        self.model, self.hardware, self.software_version = "", "", package_version()
        """Advertised in announcements; the node may set them before the first round."""
        self.announce_self = True
        """False for an observer (`swarm status`): it reads announcements, never writes one, so nodes never count it as a peer."""
        self._announced_window: int | None = None
        self._peers_read_window: int | None = None
        self.announce_reads = AnnounceReads(config.announce_shards, config.announce_reads_per_window, self.rng)
        """Which announce shards the next read of announcements takes (in turn, from a random start)."""
        self._slots: dict[int, int] = {}
        """Records published per window: each gets its own subkey slot, up to the per-peer cap."""
        self._first_publish_window: int | None = None
        """Window current at this process's first publish: slots used up to it are read from the store."""
        self._last_collect_window: int | None = None
        """Window of the previous collect: the next one reads every window since (within the record lifetime)."""
        self._complete: dict[int, set[str]] = {}
        """Keys of closed windows read once after closing: nothing new can appear there."""
        self.pusher: RecordPusher | None = None
        """Flood publishing, where the backend has it (`HivemindTransport.start` sets it)."""
        self.part_cache: PartsKeeper | None = None
        """Where split records' parts are also kept, where the backend serves them to fetchers directly."""

    @property
    def inbox(self) -> Inbox:
        return self.receiver.inbox

    @property
    def store(self) -> RecordStore:
        """The key-value backend; records read from it and parts joined from it come through `receiver`."""
        return self.receiver.store

    @store.setter
    def store(self, store: RecordStore) -> None:
        self.receiver.store = store

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
        expiration, timeout = self._expiration(), self.config.request_timeout_s
        bytes_sent, split = len(sealed), len(sealed) > self.config.part_threshold_bytes
        if split:
            index, parts, parts_ok = await store_parts(
                self.store, key, sealed, batch, self.identity, part_bytes=self.config.part_bytes,
                expiration=expiration, swarm_secret=self.secret, timeout=timeout,
                keep=self.part_cache.keep if self.part_cache is not None else None,
            )
            sealed, bytes_sent = index, bytes_sent + len(index)
        subkey = record_subkey(self.peer_id, slot)
        if self.pusher is not None and (not split or self.part_cache is not None):  # an index only if we serve its parts
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
        if self._announced_window == window or not self.announce_self:
            return
        self._announced_window = window
        msg = PeerAnnouncement(
            self.peer_id, self.model, self.hardware, self.software_version, self.addresses[:16],
            self.clock(), self.config.swarm_id, window,
        )
        key = announce_key(self.config.swarm_id, window, shard_of(self.peer_id, self.config.announce_shards))
        await gather_partial([self.store.store(key, self.peer_id, seal(msg, self.identity, self.secret), self._expiration())], self.config.request_timeout_s)

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
        (records,) = await gather_partial([self.store.get(key)], self.config.request_timeout_s)
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
        self.rejection_log.summarize()
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
        """The next announce shards, in the previous and the current window, once per window (and at every
        collect while no peer is known yet, the next shards each time)."""
        if self._peers_read_window == window and self.receiver.announcements:
            return []
        self._peers_read_window = window
        return [(announce_key(self.config.swarm_id, w, s), w) for s in self.announce_reads.next() for w in (window - 1, window)]

    async def _read(self, plan: list[tuple[str, int]], budget: int | None = None) -> None:
        """Read the planned keys; verify (and fetch the parts of) at most `budget` new batch records,
        chosen uniformly, so a node's cost per round follows what it needs, not the swarm's size.
        Records left over stay in the DHT for a later collect."""
        results = await gather_partial((self.store.get(key) for key, _ in plan), self.config.request_timeout_s)
        found = [
            (key, window, subkey, value, expiration)
            for (key, window), records in zip(plan, results)
            for subkey, (value, expiration) in (records or {}).items()
            if subkey_owner(subkey) != self.peer_id and self.receiver.is_new(key, subkey, expiration, window)
        ]
        self.rng.shuffle(found)
        chosen, deferred = [], set()
        for record in found:
            if budget is not None and not is_announce_key(record[0]):
                if budget <= 0:
                    deferred.add(record[0])
                    continue
                budget -= 1
            self.receiver.claim(record[0], record[2], record[4], record[1])
            chosen.append(record)
        for (key, w), records in zip(plan, results):
            if records is not None and self._closed(w) and key not in deferred:
                self._complete.setdefault(w, set()).add(key)
        await gather_partial([self.receiver.accept_read(k, w, sk, v) for k, w, sk, v, _ in chosen],
                             2 * self.config.request_timeout_s)

    def _forget_before(self, window: int) -> None:
        self.receiver.forget_before(window)
        for old in [w for w in self._complete if w < window]:
            del self._complete[old]

    # ------------------------------------------------------------ peers

    def peers(self) -> list[PeerAnnouncement]:
        """Peers (other than this node) whose announcement read last is at most ``config.peer_ttl_windows`` old:
        live, give or take a window. A sample of the swarm once it is larger than the announce shards read per
        window or the peer table; SAPO and the push fanout draw uniformly from it anyway."""
        return self.receiver.announcements.live(self.window() - self.config.peer_ttl_windows, exclude=self.peer_id)
