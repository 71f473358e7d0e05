"""Flood publishing: a publisher also pushes its small records straight to the admitted peers it knows.

The DHT stays the directory (a record is stored there first and stays readable after its publisher
leaves); the push only makes delivery independent of who holds the replicas, as gossipsub's flood
publishing does: sybils that accept stores and keep nothing can hide a record from the DHT, not from a
direct push. "Admitted peers" are those whose signed announcements this node verified (`peers()`).

A push is one unary call over hivemind's p2p layer carrying the record exactly as the DHT would hold
it (key, subkey, value, expiration, in a `dht_pb2.StoreRequest`). The receiver treats it like a DHT
read: the same `swarm.transports.receiver.Receiver` path (signature, secret, allow list, subkey == signer,
own shard and window, dedup, per-peer quota), once per (key, subkey, expiration) whichever copy comes first. Whatever it refuses
counts against the pushing connection's peer (`swarm.transports.peer_score`), and a publisher pushes to
peers with no recent refusal first: admitted keys that flood do not take honest peers' slots. Parts indexes are
pushed only by a node that serves its parts (`swarm.transports.hivemind.direct_parts`); the receiver fetches them
from the pusher, the DHT for any it does not serve. Pushes per remote peer per window are capped, and so is a
node's own sending, whatever the swarm's size: `push_fanout` peers per record, `push_retries_per_window` retries.
A push that was not answered goes out again every quarter window while its record is in the read range
(`swarm.transports.hivemind.push_retry`): after a partition heals, the last windows cross within a window. A peer
whose pushes keep failing is not dialed again until a TCP probe of its address answers
(`swarm.transports.hivemind.reachability`), so libp2p's dial backoff does not outlast the partition.

    pusher = Pusher(p2p, receiver, config, peers=transport.peers, window=transport.window, rng=rng)
    await pusher.start()                     # registers the rpc handler
    pusher.push(key, subkey, sealed, expiration)   # fire and forget, from publish

Reference: libp2p gossipsub v1.1 spec, "Flood Publishing".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections import Counter
from typing import Callable, Sequence

from hivemind.p2p import P2P, P2PContext, PeerID
from hivemind.proto import dht_pb2

from protocol.messages import PeerAnnouncement
from swarm.transports.chunks import gather_partial
from swarm.transports.config import TransportConfig
from swarm.transports.hivemind.multiaddr import libp2p_id
from swarm.transports.hivemind.push_retry import Outgoing, PushLedger
from swarm.transports.hivemind.reachability import Reachability
from swarm.transports.peer_score import Candidate
from swarm.transports.receiver import Receiver

logger = logging.getLogger(__name__)

PUSH_PROTOCOL = "sapo-swarm/push/1"
_WINDOW = re.compile(r"/w(-?\d{1,12})/s\d{1,6}$")  # bounded: a peer chooses the key


class Pusher:
    """Pushes this node's records to admitted peers, and receives theirs through ``receiver``."""

    def __init__(self, p2p: P2P, receiver: Receiver, config: TransportConfig, *,
                 peers: Callable[[], Sequence[PeerAnnouncement]], window: Callable[[], int], rng: random.Random,
                 reach: Reachability | None = None, max_per_peer_per_window: int | None = None) -> None:
        """``peers``: the admitted peers (verified announcements); ``window``: the current time window."""
        self.p2p, self.receiver, self.config = p2p, receiver, config
        self.peers, self.window, self.rng = peers, window, rng
        self.reach = reach or Reachability()
        """Peers that keep failing are held (not dialed) until a TCP probe says they are back: see reachability."""
        self._wake = asyncio.Event()
        self.reach.on_back = lambda peer: self._wake.set()
        self.cap = max_per_peer_per_window or 4 * config.max_records_per_peer_per_window
        self._received: dict[int, Counter[str]] = {}
        self._tasks: set[asyncio.Task] = set()
        self.pushed = self.push_failures = 0
        self.fallback_targets: Callable[[], Sequence[PeerID]] = tuple
        """Whom to push to while no peer is admitted (HivemindTransport: peers that answered the time protocol)."""
        self.ledger = PushLedger(keep_windows=max(config.windows_per_collect, config.record_ttl_windows) + 1)
        """Our records still in the read range, and who has them: pushes that were not answered go out again."""
        self.recently_admitted: dict[PeerID, float] = {}
        """libp2p id -> when it was last among the admitted peers (monotonic s): retries also go to peers that
        dropped out of `peers()` lately, as their announcements cannot be read across a partition."""
        self.remember_s = 120.0
        self.retry_period_s = max(0.25, config.window_seconds / 4)
        self.retry_timeout_s = min(config.request_timeout_s, max(0.5, config.window_seconds / 2))
        """Shorter than a first push's: a retry that hangs on a dead link must not hold back the next one."""
        self.retries: Counter[int] = Counter()
        """window -> pushes sent again in it (at most ``config.push_retries_per_window``)."""

    async def start(self) -> None:
        await self.p2p.add_protobuf_handler(PUSH_PROTOCOL, self.rpc_push, dht_pb2.StoreRequest)
        self._spawn(self._retry_loop())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------ sending

    def push(self, key: str, subkey: str, value: bytes, expiration: float) -> None:
        """Push one stored record to `push_fanout` admitted peers (`targets`), in the background (publish does not wait)."""
        request = dht_pb2.StoreRequest(keys=[key.encode()], subkeys=[subkey.encode()], values=[value],
                                       expiration_time=[expiration], in_cache=[False])
        match = _WINDOW.search(key)
        out = self.ledger.add(key, subkey, int(match.group(1)) if match else self.window(), request)
        targets = self.targets()
        if targets:
            self._send(out, targets, self.config.request_timeout_s)

    def _send(self, out: Outgoing, targets: list[PeerID], timeout_s: float) -> None:
        self.ledger.sent(out, targets)
        self._spawn(self.call_push(targets, out.request, out, timeout_s))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def retry_targets(self) -> list[PeerID]:
        """`targets()`, then peers admitted within `remember_s` that are not admitted now (a partition hides
        their announcements, not them)."""
        ranked = self.targets(held_too=True)
        cutoff = time.monotonic() - self.remember_s
        for pid in [pid for pid, t in self.recently_admitted.items() if t < cutoff]:
            del self.recently_admitted[pid]
        return ranked + [pid for pid in self.recently_admitted if pid not in ranked]

    async def _retry_loop(self) -> None:
        """Push again what was not answered (a partition, a restarting peer), and fill the fanout with peers
        admitted since, while the record is in the read range (`PushLedger.due`). Held peers wait for their
        probe; one that answers it wakes this loop at once."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.retry_period_s)
            self._wake.clear()
            try:
                self._retry_due()
            except Exception:  # never let bookkeeping end the loop; the first pushes still go out
                logger.exception("push retry failed")

    def _retry_due(self) -> None:
        """One retry round, within what is left of this window's retry budget."""
        window, held = self.window(), set(self.reach.held_peers())
        for old in [w for w in self.retries if w < window]:
            del self.retries[old]
        budget = self.config.push_retries_per_window - self.retries[window]
        for out, peers in self.ledger.due(window, self.retry_targets(), self.config.push_fanout, skip=held, budget=budget):
            self.retries[window] += len(peers)
            self._send(out, peers, self.retry_timeout_s)

    def targets(self, held_too: bool = False) -> list[PeerID]:
        """Up to `push_fanout` admitted peers: those with no recent refusal first, in random order, then the
        others best score first (`PeerScores.rank`), so flooding keys cannot take an honest peer's slot.
        Held peers (`Reachability`) are left out unless `held_too`."""
        candidates, admitted = [], 0
        seen = time.monotonic()
        for a in self.peers():
            if (pid := libp2p_id(a.addresses)) is None:
                continue
            admitted += 1
            self.reach.learn(pid, a.addresses)
            self.recently_admitted[pid] = seen
            if held_too or not self.reach.held(pid):
                candidates.append(Candidate(pid, (pid.to_base58(), a.peer_id)))
        self._bound_recently_admitted()
        if not admitted:
            fallback = [pid for pid in self.fallback_targets() if not self.reach.held(pid)]
            return self.rng.sample(fallback, min(len(fallback), self.config.push_fanout))
        return self.receiver.scores.rank(candidates, self.rng, self.config.push_fanout)

    def _bound_recently_admitted(self) -> None:
        """At most ``max_known_peers`` remembered (the least recently admitted go first)."""
        while len(self.recently_admitted) > self.config.max_known_peers:
            del self.recently_admitted[min(self.recently_admitted, key=self.recently_admitted.get)]

    async def call_push(self, targets: list[PeerID], request: dht_pb2.StoreRequest, out: Outgoing | None = None,
                        timeout_s: float | None = None) -> None:
        calls = (self.p2p.call_protobuf_handler(pid, PUSH_PROTOCOL, request, dht_pb2.StoreResponse) for pid in targets)
        try:
            results = await gather_partial(calls, timeout_s or self.config.request_timeout_s)
        except asyncio.CancelledError:
            if out is not None:
                self.ledger.answered(out, targets, [None] * len(targets))
            raise
        for pid, r in zip(targets, results):
            self.reach.result(pid, r is not None)
        self.pushed += sum(r is not None for r in results)
        self.push_failures += sum(r is None for r in results)
        if out is not None:
            self.ledger.answered(out, targets, results)

    # ------------------------------------------------------------ receiving

    async def rpc_push(self, request: dht_pb2.StoreRequest, context: P2PContext) -> dht_pb2.StoreResponse:
        """Called by hivemind when a peer pushes records; each goes through the transport's DHT-read checks."""
        self.reach.result(context.remote_id, True)  # it reached us, so the path is up: push to it again
        ok = [self._receive(request, i, context.remote_id.to_base58()) for i in range(min(len(request.keys), 1))]
        return dht_pb2.StoreResponse(store_ok=ok)

    def _receive(self, request: dht_pb2.StoreRequest, i: int, remote: str) -> bool:
        """Check and offer one pushed record; the pushing connection's peer is scored by the outcome."""
        refused_before = self.receiver.refused()
        ok = self._check_and_offer(request, i, remote)
        if self.receiver.refused() > refused_before:
            self.receiver.scores.refused(remote, self.window())
        elif ok:
            self.receiver.scores.accepted(remote, self.window())
        return ok

    def _check_and_offer(self, request: dht_pb2.StoreRequest, i: int, remote: str) -> bool:
        try:
            key, subkey = request.keys[i].decode(), request.subkeys[i].decode()
            value, expiration = request.values[i], request.expiration_time[i]
        except (IndexError, UnicodeDecodeError):
            self.receiver.reject("malformed", "push request", signer=_connection(remote))
            return False
        match = _WINDOW.search(key)
        now = self.window()
        if match is None or not key.startswith(f"sapo/{self.config.swarm_id}/"):
            self.receiver.reject("wrong_swarm", f"pushed key {key[:120]}", signer=_connection(remote))  # escaped by the log
            return False
        window = int(match.group(1))
        if abs(window - now) > max(self.config.windows_per_collect, self.config.record_ttl_windows) + 1:
            self.receiver.reject("stale_window" if window < now else "future_window", "pushed record", signer=_connection(remote))
            return False
        counts = self._received.setdefault(window, Counter())
        if counts[remote] >= self.cap:
            self.receiver.reject("over_quota", f"pushes in window {window}", signer=_connection(remote))
            return False
        counts[remote] += 1
        for old in [w for w in self._received if w < now - 2]:
            del self._received[old]
        return self.receiver.accept_pushed(key, window, subkey, value, expiration, source=remote)


def _connection(remote: str) -> str:
    """The authenticated source of a push: the libp2p peer of the connection it came over (base58)."""
    return f"libp2p:{remote}"
