"""Heal the DHT after a partition: ping known peers that dropped out of the routing table.

hivemind removes a peer from its routing table when a request to it fails, and it bootstraps from the
initial peers only once. After a network partition heals, each side can therefore keep routing only
among itself: lookups never reach the replicas on the other side, and records published there stay
invisible (measured: 77% delivery after healing a 4/4 split in benchmarks/chaos T2). Every
``period_s`` this loop pings the initial peers and the peers it has seen announced (libp2p ids, kept
for ``remember`` entries) that are missing from the routing table, at most ``max_pings`` per period (initial
peers first, then a random few): a ping that is answered puts the peer back, and the answering peer adds
us to its table too. In a large swarm most admitted peers are never in a Kademlia routing table, so
pinging them all would cost each node as much as the peer table holds, every period. Peers held by `Reachability` (their calls kept
failing, `transport.hold_dht_calls` counts them) are not pinged until their TCP probe answers: a ping
is a dial, and each failed dial lengthens libp2p's backoff.

    rejoin = Reconnect(node, initial_ids, admitted=lambda: ids, period_s=10, reach=reachability)
    await rejoin.start(); ...; await rejoin.stop()

Reference: Kademlia (Maymounkov & Mazieres 2002) section 2.3, bucket refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from typing import Callable, Iterable

from hivemind.dht.node import DHTNode
from hivemind.p2p import PeerID

from swarm.transports.chunks import gather_partial
from swarm.transports.hivemind.reachability import Reachability

logger = logging.getLogger(__name__)


class Reconnect:
    def __init__(self, node: DHTNode, initial: Iterable[PeerID], admitted: Callable[[], Iterable[PeerID]], *,
                 period_s: float, timeout_s: float, remember: int = 256, reach: Reachability | None = None,
                 max_pings: int = 8, rng: random.Random | None = None) -> None:
        self.node, self.admitted, self.period_s, self.timeout_s = node, admitted, period_s, timeout_s
        self.reach = reach or Reachability()
        self.known: OrderedDict[PeerID, None] = OrderedDict((pid, None) for pid in initial)
        self.initial = frozenset(self.known)
        self.remember, self.max_pings, self.rng = remember, max_pings, rng or random.Random()
        self.pinged = self.restored = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def missing(self) -> list[PeerID]:
        """Known peers (initial ones and every admitted one seen lately) not in the routing table, nor held:
        at most ``max_pings``, the initial ones first, then a random sample of the others."""
        for pid in self.admitted():
            self.known[pid] = None
            self.known.move_to_end(pid)
        while len(self.known) > self.remember:
            oldest = next(pid for pid in self.known if pid not in self.initial)
            del self.known[oldest]
        table = self.node.protocol.routing_table.peer_id_to_uid
        missing = [pid for pid in self.known if pid != self.node.peer_id and pid not in table and not self.reach.held(pid)]
        first = [pid for pid in missing if pid in self.initial][:self.max_pings]
        others = [pid for pid in missing if pid not in self.initial]
        return first + self.rng.sample(others, min(len(others), self.max_pings - len(first)))

    async def heal_once(self) -> int:
        """Ping the missing peers at once; returns how many answered (and are back in the table)."""
        missing = self.missing()
        if not missing:
            return 0
        answers = await gather_partial((self.node.protocol.call_ping(pid) for pid in missing), self.timeout_s)
        back = sum(a is not None for a in answers)
        self.pinged += len(missing)
        self.restored += back
        if back:
            logger.info("routing table: %d of %d missing peers answered and are back", back, len(missing))
        return back

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            try:
                await self.heal_once()
            except Exception:  # a failed heal must never stop the node; the next period retries
                logger.debug("reconnect round failed", exc_info=True)
