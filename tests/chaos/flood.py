"""T6 flood: an admitted key publishing far past its quota, in the background of an attacker process.

Every record of the stream goes both ways an honest record goes: stored into the DHT under the
attacker's own shard key with its own slot subkey (``<peer id>.<n>``, n counting up within the
window: replicas refuse slots past the per-peer cap as over_quota), and pushed straight to every
admitted peer over the push rpc (receivers refuse pushes past their per-peer-per-window cap, then
records past the per-peer quota). The stream mixes three kinds, by weight:

- ``small``: valid sealed batches (distinct batch ids), like an honest record;
- ``big``: valid sealed batches of ``big_bytes``, stored and pushed whole: the largest value one DHT
  store or push carries (hivemind's unary payload limit is 2 MiB). Honest replicas and receivers refuse
  them as too_large (a record over 64 KiB travels only as parts + index, `Limits.max_inline_record_bytes`),
  but each still crosses the wire and the receiver's p2p daemon;
- ``junk``: random bytes and truncated sealed records.

    flood = Flood(transport, FloodPlan(rate=100))
    flood.start()            # returns at once; records go out until stop()
    ...
    counts = await flood.stop()   # what was built, stored, pushed (per target), and the rate achieved

Pacing: records are due at ``rate`` per second; a tick builds what is due and sends it with at most
``max_inflight`` sends in flight. When sends cannot keep up, due records are skipped (counted in
``behind``), never queued: the attacker's own memory stays flat and the achieved rate is measured.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hivemind.p2p import PeerID
from hivemind.proto import dht_pb2

from protocol import Completion, Identity, RolloutBatch, RolloutGroup, TaskRef, seal
from protocol.keys import record_key, record_subkey, shard_of
from swarm.transports.hivemind.multiaddr import libp2p_id as _libp2p_id
from swarm.transports.hivemind.push import PUSH_PROTOCOL

if TYPE_CHECKING:
    from swarm.transports.hivemind.transport import HivemindTransport

logger = logging.getLogger(__name__)

BIG_BYTES = 1_900_000
"""Plaintext characters of a ``big`` record: its sealed value stays under hivemind's 2 MiB unary payload."""
_TEXT = 30_000
"""Characters per completion of a big record (under the 32 768 text limit)."""


@dataclass(frozen=True)
class FloodPlan:
    rate: float = 100.0
    """Records per second this key sends (each stored once and pushed to every admitted peer)."""
    small: float = 0.80
    big: float = 0.02
    junk: float = 0.18
    """Weights of the three kinds in the stream."""
    big_bytes: int = BIG_BYTES
    tick_s: float = 0.1
    max_inflight: int = 128
    """Sends (a DHT store or a push to one peer) in flight at once; beyond it due records are skipped."""
    ttl_s: float = 6.0
    seed: int = 0


@dataclass
class FloodCounts:
    built: Counter = field(default_factory=Counter)
    """Records built, by kind."""
    behind: int = 0
    """Records due but skipped because the sends could not keep up."""
    stored: int = 0
    """DHT stores that at least one replica acknowledged (slots past the cap are refused)."""
    store_calls: int = 0
    pushed: Counter = field(default_factory=Counter)
    """Pushes answered, per target (sapo peer id)."""
    push_failed: Counter = field(default_factory=Counter)
    started: float = 0.0
    stopped: float = 0.0

    def report(self) -> dict[str, Any]:
        wall = max(1e-9, (self.stopped or time.time()) - self.started)
        sent = sum(self.built.values())
        return {"built": dict(self.built), "sent": sent, "behind": self.behind, "wall_s": round(wall, 1),
                "rate_achieved": round(sent / wall, 1), "stored": self.stored, "store_calls": self.store_calls,
                "pushed": dict(self.pushed), "push_failed": dict(self.push_failed)}


def small_batch(ident: Identity, swarm_id: str, window: int, batch_id: str) -> RolloutBatch:
    group = RolloutGroup(TaskRef("chain_sum", {}, 7, 0), "3 + 4 =", (Completion("7", 1, 1.0), Completion("8", 1, 0.0)))
    return RolloutBatch(swarm_id, ident.peer_id, "tiny", time.time(), window, batch_id, (group,))


def big_batch(ident: Identity, swarm_id: str, window: int, batch_id: str, chars: int, rng: random.Random) -> RolloutBatch:
    """A valid batch of about `chars` characters of text (distinct per batch id: a random prefix per completion)."""
    block = os.urandom(_TEXT // 2).hex()
    texts = [f"{rng.getrandbits(64):016x}" + block[16:] for _ in range((chars + _TEXT - 1) // _TEXT)]
    groups = tuple(RolloutGroup(TaskRef("chain_sum", {}, 7, g), "q", tuple(Completion(t, 1, 0.0) for t in texts[g * 64:g * 64 + 64]))
                   for g in range((len(texts) + 63) // 64))
    return RolloutBatch(swarm_id, ident.peer_id, "tiny", time.time(), window, batch_id, groups)


def junk(rng: random.Random, sealed_example: bytes) -> bytes:
    """Random bytes, or a truncated valid record, alternately."""
    if rng.random() < 0.5:
        return os.urandom(rng.randrange(16, 4096))
    return sealed_example[: rng.randrange(1, len(sealed_example))]


class Flood:
    """Sends `plan.rate` records per second from `transport`'s identity until `stop`."""

    def __init__(self, transport: "HivemindTransport", plan: FloodPlan, tag: str = "f") -> None:
        self.t, self.plan, self.tag = transport, plan, tag
        self.rng = random.Random(plan.seed)
        self.counts = FloodCounts()
        self._inflight: set[asyncio.Task] = set()
        self._main: asyncio.Task | None = None
        self._targets: list[tuple[str, PeerID]] = []
        self._slot_window, self._slot = -1, 0

    def start(self) -> None:
        self.counts.started = time.time()
        self._main = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        if self._main is not None:
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        self.counts.stopped = time.time()
        return {**self.counts.report(), "targets": len(self._targets)}

    # ------------------------------------------------------------ pacing

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        t0, due_done, peers_window = loop.time(), 0, None
        while True:
            window = self.t.window()
            if window != peers_window:  # learn the admitted peers once per window (announcements)
                peers_window = window
                await self.t.collect(0)
                fresh = [(a.peer_id, pid) for a in self.t.peers() if (pid := _libp2p_id(a.addresses)) is not None]
                self._targets = fresh or self._targets  # its own flood may starve its reads: keep pushing to whom it knew
            due = int((loop.time() - t0) * self.plan.rate) - due_done
            if due > 0:
                due_done += due
                self._send_due(due, window)
            await asyncio.sleep(self.plan.tick_s)  # pacing: the next records are due one tick later

    def _send_due(self, due: int, window: int) -> None:
        room = self.plan.max_inflight - len(self._inflight)
        sends_per_record = 1 + len(self._targets)
        n = max(0, min(due, room // sends_per_record))
        self.counts.behind += due - n
        if n == 0:
            return
        records = [self._record(window) for _ in range(n)]
        small = [(k, sk, v) for k, sk, v, kind in records if kind != "big"]
        if small:
            self._spawn(self._store(small))
        for k, sk, v, kind in records:
            if kind == "big":
                self._spawn(self._store([(k, sk, v)]))
            request = dht_pb2.StoreRequest(keys=[k.encode()], subkeys=[sk.encode()], values=[v],
                                           expiration_time=[self.t.store.time() + self.plan.ttl_s], in_cache=[False])
            for peer, pid in self._targets:
                self._spawn(self._push(peer, pid, request))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    # ------------------------------------------------------------ records

    def _record(self, window: int) -> tuple[str, str, bytes, str]:
        cfg, me = self.t.config, self.t.identity
        if window != self._slot_window:
            self._slot_window, self._slot = window, 0
        slot, self._slot = self._slot, self._slot + 1
        kind = self.rng.choices(("small", "big", "junk"), (self.plan.small, self.plan.big, self.plan.junk))[0]
        batch_id = f"flood-{self.tag}-{window}-{slot}"
        if kind == "big":
            value = seal(big_batch(me, cfg.swarm_id, window, batch_id, self.plan.big_bytes, self.rng), me, self.t.secret)
        else:
            value = seal(small_batch(me, cfg.swarm_id, window, batch_id), me, self.t.secret)
            if kind == "junk":
                value = junk(self.rng, value)
        self.counts.built[kind] += 1
        key = record_key(cfg.swarm_id, window, shard_of(me.peer_id, cfg.num_shards))
        return key, record_subkey(me.peer_id, slot), value, kind

    # ------------------------------------------------------------ sends

    async def _store(self, records: list[tuple[str, str, bytes]]) -> None:
        self.counts.store_calls += 1
        try:
            async with asyncio.timeout(self.t.config.request_timeout_s):
                ok = await self.t.node.store_many([k for k, _, _ in records], [v for _, _, v in records],
                                                  self.t.store.time() + self.plan.ttl_s, subkeys=[sk for _, sk, _ in records])
            self.counts.stored += sum(bool(v) for v in ok.values())
        except Exception:  # refused, too big or timed out: an outcome, not a crash
            logger.debug("flood store failed", exc_info=True)

    async def _push(self, peer: str, pid: PeerID, request: dht_pb2.StoreRequest) -> None:
        try:
            async with asyncio.timeout(self.t.config.request_timeout_s):
                await self.t.node.p2p.call_protobuf_handler(pid, PUSH_PROTOCOL, request, dht_pb2.StoreResponse)
            self.counts.pushed[peer] += 1
        except Exception:
            self.counts.push_failed[peer] += 1
