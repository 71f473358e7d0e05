"""Big batches over push + direct part fetches (`swarm.transports.hivemind.direct_parts`), in a real 4-node swarm.

The publisher pushes the small signed parts index; the receiver fetches the parts from it over
``sapo-swarm/part/1``, checks their hashes, and reads the DHT only for parts it did not get right.
Each test waits for the receiver's background fetch (its counters) before collecting, so the DHT
copy of the index is never read first.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.swarm.conftest import SWARM_CONFIG
from tests.swarm.helpers import NodeProcess, launch_swarm
from tests.swarm.test_gossip_swarm import collect_until

pytestmark = pytest.mark.swarm


def wait_for(node: NodeProcess, done: Callable[[dict], bool], deadline: float) -> dict:
    """Poll the node's `direct` counters every 0.1 s until ``done(counters)`` or the deadline."""
    while True:
        counters = node.request("direct")
        if done(counters) or time.time() > deadline:
            return counters
        time.sleep(0.1)


@pytest.fixture(scope="module")
def swarm4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    """This module's 4-node swarm, with direct part fetches on (off by default)."""
    log_dir: Path = tmp_path_factory.mktemp("direct-parts-logs")
    with launch_swarm(4, log_dir=log_dir, **SWARM_CONFIG, direct_parts=True) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def admitted(swarm4: list[NodeProcess]) -> list[NodeProcess]:
    """The swarm once every node has read the others' announcements (pushes go to admitted peers)."""
    deadline = time.time() + 15
    for node in swarm4:
        node.request("direct")  # start counting DHT part reads
        while len(node.request("stats")["peers"]) < len(swarm4) - 1 and time.time() < deadline:
            node.request("collect", max=64)
            time.sleep(0.2)
    return swarm4


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [100_000, 2 * 1024 * 1024], ids=["100KB", "2MiB"])
def test_big_batch_arrives_by_push_and_direct_fetch_without_dht_part_reads(admitted, size):
    publisher, receiver = admitted[0], admitted[2]
    before = receiver.request("direct")
    sent = publisher.request("publish", batch_id=f"direct-{size}", size=size)
    assert sent["stored"] and sent["parts"] == (1 if size < 1024 * 1024 else 3)
    after = wait_for(receiver, lambda c: c["fetched"] >= before["fetched"] + sent["parts"], time.time() + 10)
    assert after["fetched"] - before["fetched"] == sent["parts"]
    seen = collect_until(receiver, {(publisher.peer_id, f"direct-{size}")}, time.time() + 10)
    assert seen[(publisher.peer_id, f"direct-{size}")]["digest"] == sent["digest"]
    after = receiver.request("direct")
    assert after["part_gets"] == before["part_gets"], "parts were read from the DHT"
    assert after["fetched_bytes"] - before["fetched_bytes"] >= size
    assert receiver.request("stats")["rejections"] == {}


@pytest.mark.timeout(60)
def test_parts_the_publisher_does_not_serve_come_from_the_dht(admitted):
    publisher, receiver = admitted[1], admitted[3]
    publisher.request("direct", serve="none")
    before = receiver.request("direct")
    sent = publisher.request("publish", batch_id="unserved", size=100_000)
    assert sent["stored"]
    after = wait_for(receiver, lambda c: c["missed"] > before["missed"], time.time() + 10)
    assert after["missed"] > before["missed"] and after["fetched"] == before["fetched"]
    seen = collect_until(receiver, {(publisher.peer_id, "unserved")}, time.time() + 10)
    assert seen[(publisher.peer_id, "unserved")]["digest"] == sent["digest"]
    assert receiver.request("direct")["part_gets"] > before["part_gets"]


@pytest.mark.timeout(60)
def test_forged_part_from_a_malicious_publisher_is_refused_and_counted(admitted):
    publisher, receiver = admitted[2], admitted[0]
    publisher.request("direct", serve="forged")
    before, rejected = receiver.request("direct"), receiver.request("stats")["rejections"].get("incomplete", 0)
    sent = publisher.request("publish", batch_id="forged-part", size=100_000)
    after = wait_for(receiver, lambda c: c["forged"] > before["forged"], time.time() + 10)
    assert after["forged"] == before["forged"] + 1 and after["fetched"] == before["fetched"]
    assert receiver.request("stats")["rejections"].get("incomplete", 0) > rejected
    seen = collect_until(receiver, {(publisher.peer_id, "forged-part")}, time.time() + 10)  # the DHT copy is right
    assert seen[(publisher.peer_id, "forged-part")]["digest"] == sent["digest"]
