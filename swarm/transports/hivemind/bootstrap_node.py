"""The DHT node of a bootstrap peer: no model, no transport, the same store-side checks as every node.

A bootstrap peer is the one replica every swarm has, so it must refuse what the nodes' replicas refuse:
its validator comes from the same factory (`dht_validator.build_record_validator`: signature, secret,
allow list, slot cap, inline size, expiry bound) and its storage has the same byte budget. Its clock is
this machine's (`protocol.clock.now`); nodes follow the swarm's median clock, within the tolerated skew.

    async with open_bootstrap_node(config) as node:
        maddrs = [str(m) for m in await node.get_visible_maddrs()]
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from hivemind.dht.node import DHTNode

from protocol.clock import now
from swarm.transports.config import TransportConfig
from swarm.transports.hivemind.dht_validator import build_record_validator
from swarm.transports.hivemind.startup import start_dht_node, stop_dht_node
from swarm.transports.hivemind.storage_budget import budget_dht_storage


@asynccontextmanager
async def open_bootstrap_node(config: TransportConfig) -> AsyncIterator[DHTNode]:
    """A started `DHTNode` with the nodes' record validator and storage budget; stopped (bounded) on exit."""
    node = await start_dht_node(config, build_record_validator(config, clock=now))
    budget_dht_storage(node.protocol, config.max_dht_storage_bytes)
    try:
        yield node
    finally:
        await stop_dht_node(node, config.shutdown_timeout_s)
