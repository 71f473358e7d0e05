"""Swarm clock: a node's estimate of its peers' time, which keys its windows, within a tolerated skew.

Records are keyed by time window, so a node whose wall clock is off by more than about a window
publishes where nobody reads and refuses its peers' records as stale or future. Each node therefore
asks a few peers for their wall clock (one tiny unary call, ``sapo-swarm/time/1``, over hivemind's
p2p layer) and follows the median, NTP style:

    sample  offset = peer_time - (t_send + t_recv) / 2          (peer's clock minus ours)
    keep    samples with |offset| <= max_clock_skew_s, plus our own clock (offset 0) as one vote
    follow  swarm time = monotonic() + median of the kept samples' (peer_time - monotonic midpoint)

- The estimate does not depend on windows: a node whose clock is many windows off still asks its
  peers (those of the DHT routing table and the admitted ones) directly.
- It is anchored on ``time.monotonic()``, so a wall clock that is stepped back and forth between two
  refreshes (``SAPO_CLOCK_SWING``) does not move the node's windows.
- A node whose every sample is beyond the tolerated skew is the outlier: it keeps its own clock (the
  median of its own vote alone), logs why, and its records are refused by the others as
  ``stale_window``/``future_window``. Swarm time never leaves ``own clock ± max_clock_skew_s``.
- Responders answer with their own wall clock, never their corrected one, so estimates do not feed
  on each other; the own vote makes two nodes meet half way instead of swapping clocks.

Sybils can lie about their time. What they can do is bounded: a lie beyond ``max_clock_skew_s`` is
ignored, and a lie within it moves the median only if liars are most of the sampled peers, and then
by at most ``max_clock_skew_s`` from the node's own clock. Honest nodes with correct clocks that
sample an honest majority stay within the sampling error (half a round trip) of true time.

    clock = SwarmClock(max_skew_s=60)      # uncorrected: clock() == protocol.clock.now()
    sync = ClockSync(clock, p2p, candidates=lambda: peer_ids)
    await sync.start()                     # answers peers, samples them now and every refresh_s
    window = window_of(clock(), 10.0)

Reference: RFC 5905 (NTPv4) on-wire offset (t_send/t_recv midpoint) and clock selection by majority.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from hivemind.p2p import P2P, P2PContext, PeerID
from hivemind.proto import dht_pb2

from protocol.clock import now
from swarm.transports.chunks import gather_partial

logger = logging.getLogger(__name__)

TIME_PROTOCOL = "sapo-swarm/time/1"


@dataclass(frozen=True)
class TimeSample:
    """One answer of a peer: its wall clock, between our send and receive times (wall and monotonic)."""

    peer_time: float
    sent: float
    received: float
    sent_mono: float
    received_mono: float

    @property
    def offset(self) -> float:
        """The peer's wall clock minus ours."""
        return self.peer_time - (self.sent + self.received) / 2

    @property
    def mono_offset(self) -> float:
        """The peer's wall clock minus our monotonic clock."""
        return self.peer_time - (self.sent_mono + self.received_mono) / 2


class SwarmClock:
    """Callable: swarm time in seconds. Uncorrected (own wall clock) until `update` finds peers within tolerance."""

    def __init__(self, max_skew_s: float, wall: Callable[[], float] = now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_skew_s, self.wall, self.monotonic = max_skew_s, wall, monotonic
        self._mono_offset: float | None = None
        self.outlier = False
        """True when the last samples all came from beyond the tolerated skew."""
        self.peers_used = 0
        """Peer samples within tolerance behind the current estimate."""

    def __call__(self) -> float:
        wall = self.wall()
        if self._mono_offset is None:
            return wall
        return min(max(self.monotonic() + self._mono_offset, wall - self.max_skew_s), wall + self.max_skew_s)

    @property
    def corrected(self) -> bool:
        return self._mono_offset is not None

    def skew(self) -> float:
        """Our wall clock minus swarm time (0 while uncorrected)."""
        return self.wall() - self()

    def update(self, samples: Sequence[TimeSample]) -> None:
        """Follow the median of our own clock and the samples within tolerance; no samples: keep the estimate."""
        if not samples:
            return
        kept = [s for s in samples if abs(s.offset) <= self.max_skew_s]
        was_outlier, self.outlier, self.peers_used = self.outlier, not kept, len(kept)
        if not kept:
            self._mono_offset = None
            if not was_outlier:
                logger.warning(
                    "this node's clock is off by more than max_clock_skew_s=%g s from all %d peers asked "
                    "(median %+.1f s): keeping it, so peers will refuse its records as out of window; fix the system clock",
                    self.max_skew_s, len(samples), statistics.median(s.offset for s in samples))
            return
        own = self.wall() - self.monotonic()
        mono_offset = statistics.median([own] + [s.mono_offset for s in kept])
        if self._mono_offset is None or was_outlier:
            logger.info("following the swarm clock: %+.3f s from this node's clock (%d peers)", mono_offset - own, len(kept))
        self._mono_offset = mono_offset


class ClockSync:
    """Answers ``sapo-swarm/time/1`` with our wall clock, and samples peers' clocks into a `SwarmClock`."""

    def __init__(self, clock: SwarmClock, p2p: P2P, candidates: Callable[[], Iterable[PeerID]], *,
                 max_peers: int = 8, min_peers: int = 3, timeout: float = 3.0, refresh_s: float = 10.0,
                 rng: random.Random | None = None) -> None:
        self.clock, self.p2p, self.candidates = clock, p2p, candidates
        self.max_peers, self.min_peers, self.timeout, self.refresh_s = max_peers, min_peers, timeout, refresh_s
        self.rng = rng or random.Random()
        self.responders: tuple[PeerID, ...] = ()
        """Peers that answered the last round (they run sapo-swarm)."""
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Register the handler, sample once (so the first window is already corrected), then refresh in the background."""
        await self.p2p.add_protobuf_handler(TIME_PROTOCOL, self.rpc_time, dht_pb2.PingRequest)
        await self.sync()
        self._task = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def rpc_time(self, request: dht_pb2.PingRequest, context: P2PContext) -> dht_pb2.PingResponse:
        return dht_pb2.PingResponse(dht_time=self.clock.wall(), available=True)

    async def sync(self) -> None:
        """Ask up to ``max_peers`` random candidates at once; feed the answers to the clock."""
        peers = list(dict.fromkeys(self.candidates()))
        peers = self.rng.sample(peers, min(len(peers), self.max_peers))
        results = await gather_partial((self.sample(p) for p in peers), self.timeout)
        self.responders = tuple(p for p, r in zip(peers, results) if r is not None)
        self.clock.update([r for r in results if r is not None])

    async def sample(self, peer: PeerID) -> TimeSample:
        sent, sent_mono = self.clock.wall(), self.clock.monotonic()
        reply = await self.p2p.call_protobuf_handler(peer, TIME_PROTOCOL, dht_pb2.PingRequest(), dht_pb2.PingResponse)
        return TimeSample(reply.dht_time, sent, self.clock.wall(), sent_mono, self.clock.monotonic())

    async def _refresh(self) -> None:
        while True:  # every second while fewer than min_peers answer (a joining node meets its peers), then every refresh_s
            await asyncio.sleep(self.refresh_s if len(self.responders) >= self.min_peers else min(1.0, self.refresh_s))
            try:
                await self.sync()
            except Exception:  # a failed round keeps the last estimate
                logger.debug("clock sync round failed", exc_info=True)
