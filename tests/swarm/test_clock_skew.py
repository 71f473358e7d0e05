"""Clock skew on real node processes (loopback): within the tolerated skew a node follows the swarm clock and
gossips as usual; beyond it, its records are refused and counted under a window reason.

Four nodes, 2 s windows, max_clock_skew_s = 60: two at true time, one at +40 s (20 windows ahead
before correction), one at +262 s.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.swarm.helpers import NodeProcess, start_node

pytestmark = pytest.mark.swarm

CONFIG = dict(
    swarm_id="t-skew", window_seconds=2.0, record_ttl_windows=2, windows_per_collect=2, num_shards=2,
    shards_per_collect=2, swarm_secret="test-secret", startup_timeout_s=30.0, max_clock_skew_s=60.0,
)
WINDOW_REASONS = ("stale_window", "future_window", "wrong_window")


@contextlib.contextmanager
def clock_offset(seconds: float) -> Iterator[None]:
    """SAPO_CLOCK_OFFSET for the processes started inside (Popen copies the environment)."""
    old = os.environ.get("SAPO_CLOCK_OFFSET")
    os.environ["SAPO_CLOCK_OFFSET"] = str(seconds)
    try:
        yield
    finally:
        if old is None:
            del os.environ["SAPO_CLOCK_OFFSET"]
        else:
            os.environ["SAPO_CLOCK_OFFSET"] = old


@pytest.fixture(scope="module")
def skewed_swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    log_dir: Path = tmp_path_factory.mktemp("skew-logs")
    prefix = f"skew{os.getpid()}-"
    nodes = [start_node(CONFIG, prefix + "0", log_dir)]
    try:
        joiners = {**CONFIG, "initial_peers": nodes[0].info["maddrs"]}
        for i, offset in enumerate((0.0, 40.0, 262.0), start=1):
            with clock_offset(offset):
                nodes.append(NodeProcess(joiners, f"{prefix}{i}", log_dir))
        for node in nodes[1:]:
            assert node.wait_ready(60).get("event") == "ready", node.info
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def wait_for_clocks(nodes: list[NodeProcess], deadline: float) -> list[dict]:
    """Poll until the honest nodes and the +40 s node follow true time and the +262 s node knows it is the outlier."""
    while True:
        clocks = [n.request("clock") for n in nodes]
        settled = (all(abs(c["skew"] - want) < 0.5 for c, want in zip(clocks[:3], (0.0, 0.0, 40.0)))
                   and clocks[2]["corrected"] and clocks[3]["outlier"])
        if settled or time.time() > deadline:
            return clocks
        time.sleep(0.2)


@pytest.mark.timeout(60)
def test_skew_within_tolerance_is_corrected_and_beyond_it_rejected(skewed_swarm):
    honest_a, honest_b, ahead_40, ahead_262 = skewed_swarm
    clocks = wait_for_clocks(skewed_swarm, time.time() + 15)
    assert clocks[2]["corrected"] and abs(clocks[2]["skew"] - 40.0) < 0.5, clocks
    assert clocks[3]["outlier"] and not clocks[3]["corrected"], clocks
    assert len({c["window"] for c in clocks[:3]}) <= 2 and clocks[3]["window"] >= clocks[0]["window"] + 100, clocks
    before = [n.request("stats")["rejections"] for n in skewed_swarm]

    for node in skewed_swarm:
        node.request("publish", batch_id="r1", size=2000)
    within = [honest_a, honest_b, ahead_40]
    seen: dict[str, set[str]] = {n.peer_id: set() for n in skewed_swarm}
    deadline = time.time() + 8
    while time.time() < deadline and not all(len(seen[n.peer_id]) >= 2 for n in within):
        for node in skewed_swarm:
            seen[node.peer_id] |= {b["sender"] for b in node.request("collect", max=64)["batches"]}
        time.sleep(0.2)

    for node in within:
        assert seen[node.peer_id] == {n.peer_id for n in within} - {node.peer_id}, (node.seed, seen)
    assert seen[ahead_262.peer_id] == set(), "the outlier accepted records keyed by windows it should not see"
    after = [n.request("stats")["rejections"] for n in within]
    window_rejections = sum(a.get(r, 0) - b.get(r, 0) for a, b in zip(after, before) for r in WINDOW_REASONS)
    assert window_rejections >= 1, (before, after)
