"""Real node processes gossiping over hivemind's DHT on loopback (NAT, AutoNAT and relays off).

The tests share one 4-node swarm (2 s windows, 4 s TTL, private secret); the SIGKILL test runs last.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.swarm.conftest import SWARM_CONFIG
from tests.swarm.helpers import NodeProcess

pytestmark = pytest.mark.swarm


def collect_until(node: NodeProcess, wanted: set[tuple[str, str]], deadline: float) -> dict[tuple[str, str], dict]:
    """Collect every 0.2 s until all (sender, batch id) in ``wanted`` arrived or the deadline passes."""
    seen: dict[tuple[str, str], dict] = {}
    while time.time() < deadline and not wanted <= seen.keys():
        reply = node.request("collect", max=64)
        for b in reply["batches"]:
            seen[(b["sender"], b["batch_id"])] = {**b, "at": reply["t1"]}
        time.sleep(0.2)
    return seen


@pytest.mark.timeout(60)
def test_every_node_sees_every_batch_within_5s(swarm4):
    published = {n.peer_id: n.request("publish", batch_id="r1", size=5000) for n in swarm4}
    for node in swarm4:
        wanted = {(p, "r1") for p in published if p != node.peer_id}
        seen = collect_until(node, wanted, time.time() + 5)
        assert wanted <= seen.keys(), f"{node.peer_id} missed {wanted - seen.keys()}"
        for (sender, _), b in seen.items():
            if (sender, "r1") in wanted:
                assert b["at"] - published[sender]["t1"] < 5
                assert b["digest"] == published[sender]["digest"]


@pytest.mark.timeout(60)
def test_two_mib_batch_arrives_intact(swarm4):
    sent = swarm4[0].request("publish", batch_id="big", size=2 * 1024 * 1024)
    assert sent["parts"] >= 3 and sent["stored"]
    seen = collect_until(swarm4[2], {(swarm4[0].peer_id, "big")}, time.time() + 15)
    assert seen[(swarm4[0].peer_id, "big")]["digest"] == sent["digest"]


@pytest.mark.timeout(60)
def test_single_part_batch_is_not_pushed_as_an_index(swarm4):
    """A 100 KB batch is one part plus an index: peers read it from the DHT and refuse nothing honest."""
    sent = swarm4[1].request("publish", batch_id="one-part", size=100_000)
    assert sent["parts"] == 1 and sent["stored"]
    seen = collect_until(swarm4[3], {(swarm4[1].peer_id, "one-part")}, time.time() + 10)
    assert seen[(swarm4[1].peer_id, "one-part")]["digest"] == sent["digest"]
    for node in swarm4:
        assert node.request("stats")["rejections"] == {}, node.peer_id


@pytest.mark.timeout(60)
def test_forged_batches_rejected_and_counted(swarm4):
    forger, victim = swarm4[3], swarm4[0]
    for kind in ("bad_signature", "subkey_mismatch", "wrong_secret"):
        forger.request("forge", kind=kind, victim=victim.peer_id)
    for node in swarm4[:3]:
        seen = collect_until(node, {("never", "never")}, time.time() + 1.5)
        assert not [k for k in seen if k[1].startswith("forged")]
    totals: dict[str, int] = {}
    for node in swarm4[:3]:
        for reason, count in node.request("stats")["rejections"].items():
            totals[reason] = totals.get(reason, 0) + count
    for reason in ("bad_signature", "subkey_mismatch", "wrong_secret"):
        assert totals.get(reason, 0) >= 1, totals


@pytest.mark.timeout(60)
def test_expired_batch_is_gone(swarm4):
    publisher, reader = swarm4[1], swarm4[2]
    publisher.request("publish", batch_id="short-lived", size=100)
    found = reader.request("raw_get", peer=publisher.peer_id)["found"]
    assert any(s.startswith(publisher.peer_id) for subkeys in found.values() for s in subkeys)
    ttl = SWARM_CONFIG["record_ttl_windows"] * SWARM_CONFIG["window_seconds"]
    time.sleep(ttl + 1.0)
    found = reader.request("raw_get", peer=publisher.peer_id)["found"]
    assert not any(s.startswith(publisher.peer_id) for subkeys in found.values() for s in subkeys), found


@pytest.mark.timeout(90)
def test_sigkill_one_node_others_keep_exchanging(swarm4):
    victim, alive = swarm4[3], swarm4[:3]
    victim.kill()
    deadline = time.time() + 5
    while victim.group_alive() and time.time() < deadline:
        time.sleep(0.1)
    assert not victim.group_alive(), "the node's p2pd daemon outlived it"
    for node in alive:
        node.request("publish", batch_id="after-kill", size=5000)
    for node in alive:
        wanted = {(p.peer_id, "after-kill") for p in alive if p is not node}
        seen = collect_until(node, wanted, time.time() + 15)
        assert wanted <= seen.keys(), f"{node.peer_id} missed {wanted - seen.keys()}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(60)
def test_startup_against_unreachable_peer_fails_in_time():
    peer = f"/ip4/127.0.0.1/tcp/{_free_port()}/p2p/12D3KooWAbREjcVkJp2ZND4gtobGCkHm4MztKY1LTmmCJgVo7KoJ"
    t0 = time.time()
    node = NodeProcess({"initial_peers": [peer], "startup_timeout_s": 5.0}, "unreachable")
    try:
        info = node.wait_ready(timeout=40)
    finally:
        node.stop(timeout=5)
    assert info["event"] == "error" and info["reason"] == "no_initial_peer", info
    assert peer in info["message"]
    assert time.time() - t0 < 5.0 + 15  # the timeout plus interpreter and hivemind import


@pytest.mark.timeout(60)
def test_startup_on_a_taken_port_says_so():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        node = NodeProcess({"host_maddrs": [f"/ip4/127.0.0.1/tcp/{port}"], "startup_timeout_s": 5.0}, "taken")
        try:
            info = node.wait_ready(timeout=40)
        finally:
            node.stop(timeout=5)
    assert info["event"] == "error" and info["reason"] == "port_in_use", info
