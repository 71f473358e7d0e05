"""Gossip transports and their registry: ``build_transport(config, identity)``.

    >>> from protocol import Identity
    >>> from swarm.transports.config import TransportConfig
    >>> build_transport(TransportConfig(type="none"), Identity.generate()).__class__.__name__
    'NullTransport'

"hivemind" (the real DHT; call ``await transport.start()`` before the first round), "memory"
(in-process simulations; pass ``memory_hub``), "none" (silo). The hivemind backend is imported
only when asked for, so the memory and null ones load without hivemind.
"""

from __future__ import annotations

from typing import Callable

from protocol.identity import Identity
from swarm.transports.base import PublishReceipt, Transport, TransportStats
from swarm.transports.config import TransportConfig
from swarm.transports.inbox import Inbox
from swarm.transports.memory import MemoryHub, MemoryTransport
from swarm.transports.null import NullTransport


def _hivemind(config: TransportConfig, identity: Identity, memory_hub: MemoryHub | None) -> Transport:
    from swarm.transports.hivemind.transport import HivemindTransport

    return HivemindTransport(config, identity)


def _memory(config: TransportConfig, identity: Identity, memory_hub: MemoryHub | None) -> Transport:
    if memory_hub is None:
        raise ValueError("transport type 'memory' needs memory_hub=MemoryHub() shared by the simulated nodes")
    return MemoryTransport(config, identity, memory_hub)


def _none(config: TransportConfig, identity: Identity, memory_hub: MemoryHub | None) -> Transport:
    return NullTransport(config)


TRANSPORTS: dict[str, Callable[[TransportConfig, Identity, MemoryHub | None], Transport]] = {
    "hivemind": _hivemind,
    "memory": _memory,
    "none": _none,
}


def build_transport(config: TransportConfig, identity: Identity, *, memory_hub: MemoryHub | None = None) -> Transport:
    """The transport named by ``config.type``, not yet started (call ``await transport.start()``)."""
    return TRANSPORTS[config.type](config, identity, memory_hub)


def __getattr__(name: str) -> object:
    if name in ("HivemindTransport", "TransportStartupError"):
        from swarm.transports.hivemind import transport

        return getattr(transport, name)
    raise AttributeError(name)


__all__ = [
    "TRANSPORTS", "HivemindTransport", "Inbox", "MemoryHub", "MemoryTransport", "NullTransport",
    "PublishReceipt", "Transport", "TransportConfig", "TransportStats", "TransportStartupError", "build_transport",
]
