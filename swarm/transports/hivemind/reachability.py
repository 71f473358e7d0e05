"""Stop dialing a peer that keeps failing; probe its TCP address instead, and dial again once it answers.

go-libp2p backs a peer off after each failed dial (5 s + 1 s x tries^2, up to 5 minutes), and the p2p
daemon offers no way to clear it. A partition therefore lasts longer than the network fault: every push,
ping, clock query and DHT lookup that reaches for a peer on the far side is one more failed dial. After
a 60 s isolation the backoff kept both sides apart for another 14 s (measured in benchmarks/chaos T2:
"failed to dial: all dials failed" within 0.01 s, then every peer back at once).

So a peer whose calls failed `fail_threshold` times in a row is *suspect*, and the next probe round tries a
plain TCP connect to its announced address (closed at once: no libp2p dial, so no backoff). Accepted: the
path is up and the failures were load or a restart, nothing changes. Not accepted: the peer is *held*, and
no libp2p call goes to it; every `probe_period_s` the probe asks again, and when it is accepted the hold
is lifted and `on_back` is called, so pending pushes go out at once. A peer announced at a new address
(it restarted) is released too. A peer without a known TCP address is never held: nothing could tell
when to try again.

    reach = Reachability(fail_threshold=2, probe_period_s=0.5, probe_timeout_s=1.0)
    await reach.start()                           # a probe round every probe_period_s (or: await reach.probe_due())
    reach.learn(pid, announcement.addresses)      # announcements and initial peers
    reach.result(pid, ok)                         # after every call to pid
    targets = [p for p in peers if not reach.held(p)]
    ...; await reach.stop()

Reference: go-libp2p `p2p/net/swarm/dial_backoff.go` (BackoffBase 5 s, BackoffCoef 1 s, BackoffMax 5 min);
the probe is Kubernetes' tcpSocket probe: a connect that is accepted means the path and the listener are up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import Callable, Hashable, Iterable

from protocol.printable import peer_text
from swarm.transports.hivemind.hello import tcp_accepts

logger = logging.getLogger(__name__)

_TCP = re.compile(r"^/ip([46])/([^/]+)/tcp/(\d+)")


def tcp_address(maddrs: Iterable[str]) -> tuple[str, int] | None:
    """The first ``/ip4|ip6/<host>/tcp/<port>`` of a peer's multiaddrs, or None (QUIC, DNS). A relayed address
    is skipped: it starts with the relay's address, and the relay answering says nothing about the peer."""
    for maddr in maddrs:
        match = _TCP.match(maddr) if "/p2p-circuit" not in maddr else None
        if match:
            return match.group(2), int(match.group(3))
    return None


class Reachability:
    def __init__(self, *, fail_threshold: int = 2, probe_period_s: float = 0.5, probe_timeout_s: float = 1.0,
                 forget_s: float = 120.0, max_probes: int = 64, max_peers: int = 1024) -> None:
        """``max_probes``: probes in flight (so started per round) at most; ``max_peers``: addresses and failure
        counts remembered at most (the least recently learned or failed go first; held peers stay)."""
        self.fail_threshold, self.probe_period_s, self.probe_timeout_s = fail_threshold, probe_period_s, probe_timeout_s
        self.forget_s, self.max_probes, self.max_peers = forget_s, max_probes, max_peers
        self.addresses: dict[Hashable, tuple[str, int]] = {}
        self.failures: dict[Hashable, int] = {}
        self._held: dict[Hashable, float] = {}
        """peer -> when it was held (monotonic s)."""
        self._suspects: set[Hashable] = set()
        """Peers whose calls failed `fail_threshold` times in a row, for the next probe round to judge."""
        self.on_back: Callable[[Hashable], None] = lambda peer: None
        self.holds = self.releases = self.probes = self.cleared = 0
        self._task: asyncio.Task | None = None
        self._probing: dict[Hashable, asyncio.Task] = {}

    # ------------------------------------------------------------ bookkeeping (no I/O)

    def learn(self, peer: Hashable, maddrs: Iterable[str]) -> None:
        """Remember where `peer` listens; a held peer that moved (restarted) is released."""
        address = tcp_address(maddrs)
        if address is None:
            return
        moved = self.addresses.get(peer) not in (None, address)
        self.addresses.pop(peer, None)
        self.addresses[peer] = address  # last: the most recently learned
        if moved and peer in self._held:
            self._release(peer)
        self._bound(self.addresses)

    def result(self, peer: Hashable, ok: bool) -> None:
        """One call to `peer` answered (ok) or failed: a timeout, a reset, a dial error."""
        if ok:
            self.failures.pop(peer, None)
            self._suspects.discard(peer)
            if peer in self._held:
                self._release(peer)
            return
        self.failures[peer] = self.failures.pop(peer, 0) + 1
        self._bound(self.failures)
        if self.failures[peer] >= self.fail_threshold and peer in self.addresses and peer not in self._held:
            self._suspects.add(peer)

    def _bound(self, table: dict) -> None:
        """Forget the oldest entries of ``table`` past ``max_peers``, never a held or suspect peer's."""
        if len(table) <= self.max_peers:
            return
        for peer in [p for p in table if p not in self._held and p not in self._suspects][:len(table) - self.max_peers]:
            del table[peer]

    def _hold(self, peer: Hashable) -> None:
        self._held[peer] = time.monotonic()
        self.holds += 1
        host, port = self.addresses[peer]
        logger.info("peer %s failed %d calls in a row and its address %s:%d does not accept: no more dials until it does",
                    peer, self.failures.get(peer, 0), peer_text(host), port)

    def held(self, peer: Hashable) -> bool:
        return peer in self._held

    def held_peers(self) -> list[Hashable]:
        return list(self._held)

    def _release(self, peer: Hashable) -> None:
        self._held.pop(peer, None)
        self._suspects.discard(peer)
        self.failures.pop(peer, None)
        self.releases += 1
        self.on_back(peer)

    # ------------------------------------------------------------ probing

    async def probe(self, peer: Hashable) -> bool:
        """A plain TCP connect to the peer's address, closed at once; True if it was accepted in time."""
        host, port = self.addresses[peer]
        self.probes += 1
        return await tcp_accepts(host, port, self.probe_timeout_s)

    async def probe_due(self) -> int:
        """One probe round, awaited: suspects are held or cleared, held peers released if their address accepts.
        Returns how many held peers came back. A peer held longer than `forget_s` is let go first: the next
        call to it dials again."""
        answers = await asyncio.gather(*self._start_probes())
        return sum(answers)

    def _start_probes(self) -> list[asyncio.Task]:
        """Start a probe of each suspect and held peer that has none in flight (at most `max_probes` at once)."""
        now = time.monotonic()
        for peer in [p for p, since in self._held.items() if now - since > self.forget_s]:
            self._held.pop(peer, None)
            self.failures.pop(peer, None)
        due = [p for p in self._suspects if p not in self._held] + sorted(self._held, key=self._held.get)
        room = self.max_probes - len(self._probing)
        tasks = []
        for peer in [p for p in dict.fromkeys(due) if p not in self._probing][:max(0, room)]:
            task = asyncio.create_task(self._probe_and_judge(peer))
            self._probing[peer] = task
            task.add_done_callback(lambda _, p=peer: self._probing.pop(p, None))
            tasks.append(task)
        return tasks

    async def _probe_and_judge(self, peer: Hashable) -> bool:
        """True if a held peer came back."""
        accepted = await self.probe(peer)
        if peer in self._suspects and peer not in self._held:
            self._suspects.discard(peer)
            if accepted:  # reachable: the failures were load or a restart, not the path
                self.failures.pop(peer, None)
                self.cleared += 1
            else:
                self._hold(peer)
            return False
        if not accepted or peer not in self._held:
            return False
        logger.info("peer %s answers at %s:%d again", peer, peer_text(self.addresses[peer][0]), self.addresses[peer][1])
        self._release(peer)
        return True

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._probing.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        """Every `probe_period_s`, start a probe of each suspect and held peer that has none in flight: a probe
        that hangs on a dead path (up to `probe_timeout_s`) does not delay the others, nor the next round."""
        while True:
            await asyncio.sleep(self.probe_period_s)
            try:
                self._start_probes()
            except Exception:  # a failed probe round must never stop the node; the next one retries
                logger.debug("probe round failed", exc_info=True)
