"""In-process transport for unit tests and simulations: a shared dict instead of the DHT.

It runs the very same sharded publish/collect, sealing, parts and `Inbox` checks as the hivemind
backend; only the key-value store differs. Never use it in place of the DHT in integration tests.

    >>> import asyncio
    >>> from protocol import Identity
    >>> from swarm.transports.config import TransportConfig
    >>> hub = MemoryHub()
    >>> node = MemoryTransport(TransportConfig(type="memory"), Identity.generate(), hub)
    >>> asyncio.run(node.collect(4))
    []
"""

from __future__ import annotations

import logging
from typing import Callable

from protocol.clock import now
from protocol.identity import Identity
from swarm.transports.chunks import Records
from swarm.transports.config import TransportConfig
from swarm.transports.sharded import ShardedTransport

logger = logging.getLogger(__name__)


class MemoryHub:
    """The shared store of an in-process swarm: key -> subkey -> (value, expiration).

    ``clock`` is injectable so tests move time instead of sleeping. ``tamper`` lets a test store raw
    bytes under any subkey, as a forger without a store-side validator could.
    """

    def __init__(self, clock: Callable[[], float] = now) -> None:
        self.clock = clock
        self.data: dict[str, dict[str, tuple[bytes, float]]] = {}

    def time(self) -> float:
        return self.clock()

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        return self.tamper(key, subkey, value, expiration)

    def tamper(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        current = self.data.setdefault(key, {}).get(subkey)
        if current is not None and current[1] >= expiration:
            return False  # as in hivemind: only a later expiration replaces a value
        self.data[key][subkey] = (value, expiration)
        return True

    async def get(self, key: str, latest: bool = True) -> Records:
        t = self.clock()
        return {sk: (v, exp) for sk, (v, exp) in self.data.get(key, {}).items() if exp > t}


class MemoryTransport(ShardedTransport):
    """`ShardedTransport` over a `MemoryHub` shared by the in-process nodes of one simulation."""

    def __init__(self, config: TransportConfig, identity: Identity, hub: MemoryHub, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(config, identity, hub, clock=clock or hub.clock)

    async def start(self) -> None:
        logger.debug("memory transport %s started", self.peer_id)

    async def stop(self) -> None:
        logger.debug("memory transport %s stopped", self.peer_id)
