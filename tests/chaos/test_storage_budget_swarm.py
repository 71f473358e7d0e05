"""A replica's DHT storage stays within its byte budget when an outsider stores parts (real 3-process swarm).

A content-addressed part needs no signature and no swarm secret, so before `swarm.transports.hivemind.storage_budget`
anyone who reached a node could make it hold parts under any key until they expired.
"""

from __future__ import annotations

import pytest

from protocol import Identity
from tests.chaos.conftest import ATTACKER_SCRIPT, CHAOS_CONFIG, seeds
from tests.swarm.helpers import start_node

pytestmark = pytest.mark.swarm

BUDGET = 1024 * 1024
PART = 40 * 1024  # under 64 KiB: hivemind's DHT chokes on single values from 64 KiB (see ../shared/README.md)


@pytest.mark.timeout(90)
def test_an_outsider_cannot_fill_a_replica_past_its_storage_budget(tmp_path) -> None:
    honest_seeds, outsider_seed = seeds(2)
    allowed = [Identity.from_seed(s.encode()).peer_id for s in honest_seeds]
    config = {**CHAOS_CONFIG, "allowed_peers": allowed, "max_dht_storage_bytes": BUDGET}
    started = []
    try:
        started.append(start_node(config, honest_seeds[0], tmp_path))
        joiners = {**config, "initial_peers": started[0].info["maddrs"]}
        started.append(start_node(joiners, honest_seeds[1], tmp_path))
        outsider_config = {k: v for k, v in joiners.items() if k not in ("swarm_secret", "allowed_peers")}
        started.append(start_node(outsider_config, outsider_seed, tmp_path, script=ATTACKER_SCRIPT))
        sent = started[2].request("store_parts", count=2 * BUDGET // PART, size=PART, ttl_s=8.0)
        assert sent["stored"] > 0 and sent["bytes"] > 1.5 * BUDGET
        for node in started[:2]:
            stats = node.request("stats")
            assert BUDGET // 2 <= stats["bounds"]["dht_storage_bytes"] <= BUDGET  # took parts, up to its budget
            assert stats["rejections"].get("storage_full", 0) > 0
    finally:
        for node in started:
            node.stop()
