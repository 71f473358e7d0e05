"""After a partition, a peer that fell out of the routing table is pinged back in (swarm/transports/hivemind/reconnect.py)."""

from __future__ import annotations

import asyncio

import pytest
from hivemind.dht.node import DHTNode

from swarm.transports.config import TransportConfig
from swarm.transports.hivemind.reconnect import Reconnect
from swarm.transports.hivemind.startup import p2p_options

pytestmark = pytest.mark.swarm


async def _scenario() -> tuple[int, int, bool, bool]:
    options = p2p_options(TransportConfig(startup_timeout_s=30.0))
    a = await DHTNode.create(**options)
    b = await DHTNode.create(initial_peers=[str(m) for m in await a.get_visible_maddrs()], **options)
    try:
        table = b.protocol.routing_table
        assert a.peer_id in table.peer_id_to_uid
        del table[table.peer_id_to_uid[a.peer_id]]  # what hivemind does when a request to `a` fails
        rejoin = Reconnect(b, [a.peer_id], admitted=list, period_s=3600, timeout_s=5.0)
        gone = a.peer_id not in table.peer_id_to_uid
        missing_before = len(rejoin.missing())
        back = await rejoin.heal_once()
        return missing_before, back, gone, a.peer_id in table.peer_id_to_uid and not rejoin.missing()
    finally:
        await asyncio.gather(b.shutdown(), a.shutdown())


@pytest.mark.timeout(60)
def test_a_peer_dropped_from_the_routing_table_is_pinged_back() -> None:
    missing_before, back, gone, restored = asyncio.run(_scenario())
    assert gone and missing_before == 1
    assert back == 1 and restored
