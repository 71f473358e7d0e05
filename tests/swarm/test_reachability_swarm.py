"""A peer that stops answering is held, not dialed, until it answers a TCP probe; then pushes go to it
again at once (swarm/transports/hivemind/reachability.py), over the real DHT and p2p daemons on loopback.

Without the hold, every push to the dead peer is a failed libp2p dial, and go-libp2p's dial backoff
(5 s + 1 s x tries^2) keeps refusing dials for seconds after the peer is back."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.swarm.helpers import start_node

pytestmark = [pytest.mark.swarm, pytest.mark.timeout(150)]

CONFIG = dict(swarm_id="t-reach", window_seconds=2.0, record_ttl_windows=2, windows_per_collect=2, num_shards=1,
              shards_per_collect=1, startup_timeout_s=30.0, request_timeout_s=2.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(predicate, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def test_a_peer_that_died_is_held_then_pushed_to_within_a_window_of_its_return(tmp_path: Path) -> None:
    port = _free_port()
    b_config = {**CONFIG, "host_maddrs": [f"/ip4/127.0.0.1/tcp/{port}"]}
    a = start_node(CONFIG, "reach-a", tmp_path)
    b = start_node({**b_config, "initial_peers": a.info["maddrs"]}, "reach-b", tmp_path)
    try:
        def a_admits_b() -> bool:
            a.request("publish", batch_id=f"warm-{time.monotonic_ns()}")
            b.request("collect")
            a.request("collect")
            return b.peer_id in a.request("stats")["peers"]
        assert _until(a_admits_b, 30, step=0.5), "a never read b's announcement"

        b.kill()
        held = _until(lambda: (a.request("publish", batch_id=f"gone-{time.monotonic_ns()}"),
                               a.request("stats")["reach"])[1]["held"], 20, step=0.5)
        assert held, "a kept dialing the dead peer instead of holding it"
        for k in range(6):  # 3 s of publishing while b is down: each push would be a failed dial without the hold
            a.request("publish", batch_id=f"down-{k}")
            time.sleep(0.5)
        before = a.request("stats")

        b = start_node({**b_config, "initial_peers": a.info["maddrs"]}, "reach-b", tmp_path)  # same key, same port
        back = time.monotonic()
        a.request("publish", batch_id="after")
        after = _until(lambda: (s := a.request("stats"))["pushed"] > before["pushed"] and not s["reach"]["held"] and s, 10, step=0.1)
        assert after, f"a did not push to b again within 10 s: {a.request('stats')['reach']}"
        assert time.monotonic() - back < CONFIG["window_seconds"] + 1.0  # within a window (+ polling)
        assert after["reach"]["releases"] >= 1 and after["reach"]["probes"] >= 1
    finally:
        for node in (a, b):
            node.stop()
