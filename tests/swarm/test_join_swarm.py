"""Joining a live loopback swarm the wrong way, with the real CLI, DHT and p2pd (issue 23, items 1, 3, 7).

A 2-node private swarm (`launch_swarm`) keeps publishing and announcing in the background while:
- `swarm join` names a bootstrap whose peer id is not the one answering (a restarted bootstrap): exit 1
  with the id that answered, instead of training alone;
- `swarm status --peers` sees both nodes (with the swarm's id, window length and secret), is itself never
  counted as a peer, and says why it sees none with a wrong secret, no secret, another window length, or
  the default (other) swarm id;
- `swarm join` with a wrong secret says once "your secret does not match the records in this swarm".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.swarm.helpers import NodeProcess, launch_swarm

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

SWARM = [sys.executable, "-m", "swarm.cli"]
CONFIG = dict(swarm_id="t-join", window_seconds=2.0, record_ttl_windows=2, windows_per_collect=2, num_shards=2,
              shards_per_collect=2, swarm_secret="join-secret", startup_timeout_s=30.0)
OTHER_PID = "12D3KooWB1hQkagaJHDL3s8TAvLYHjCnweX1Yixsg1JNFwLdyrk9"


class Busy:
    """Keeps the nodes publishing and collecting (announcing once per window) until stopped."""

    def __init__(self, nodes: list[NodeProcess]) -> None:
        self.nodes, self.stop_event, self.lock = nodes, threading.Event(), threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        k = 0
        while not self.stop_event.wait(0.5):
            with self.lock:
                for node in self.nodes:
                    node.request("publish", batch_id=f"b{k}")
                    node.request("collect", max=64)
            k += 1

    def request(self, node: NodeProcess, cmd: str, **kw) -> dict:
        with self.lock:
            return node.request(cmd, **kw)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)


@pytest.fixture(scope="module")
def busy_swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[NodeProcess], Busy]]:
    with launch_swarm(2, log_dir=tmp_path_factory.mktemp("join-swarm"), **CONFIG) as nodes:
        busy = Busy(nodes)
        try:
            yield nodes, busy
        finally:
            busy.stop()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, SAPO_SWARM_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", COLUMNS="200")


def status(maddr: str, env: dict[str, str], *args: str) -> dict:
    result = subprocess.run([*SWARM, "status", "--peers", maddr, "--wait", "3", "--json", "--set", "transport.window_seconds=2", *args],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.timeout(300)
def test_status_sees_the_swarm_is_not_a_peer_and_explains_zero(busy_swarm, env: dict[str, str]) -> None:
    nodes, busy = busy_swarm
    maddr = nodes[0].info["maddrs"][0]
    right = status(maddr, env, "--set", "transport.swarm_id=t-join", "--secret", "join-secret")
    assert {p["peer_id"] for p in right["peers"]} == {n.peer_id for n in nodes} and right["explanation"] is None
    for node in nodes:  # the observer never announced: no node counts it
        assert set(busy.request(node, "stats")["peers"]) <= {n.peer_id for n in nodes}

    wrong = status(maddr, env, "--set", "transport.swarm_id=t-join", "--secret", "not-it")
    assert wrong["peers"] == [] and wrong["explanation"].startswith("your secret does not match the records in this swarm")
    none = status(maddr, env, "--set", "transport.swarm_id=t-join")
    assert "encrypted and tagged under a secret you do not have" in none["explanation"] and "--secret" in none["explanation"]
    windows = status(maddr, env, "--set", "transport.swarm_id=t-join", "--secret", "join-secret", "--set", "transport.window_seconds=10")
    assert "key records by 2 s windows, you by 10 s: pass --set transport.window_seconds=2" in windows["explanation"], windows
    default = status(maddr, env, "--secret", "join-secret")  # configs/join.yaml's swarm id, as `swarm join` uses
    assert default["swarm_id"] == "public-demo"
    assert "the peers here run another swarm: 't-join'" in default["explanation"], default
    assert "--set transport.swarm_id=t-join" in default["explanation"]


@pytest.mark.timeout(300)
def test_join_through_a_restarted_bootstrap_fails_naming_the_id_that_answers(busy_swarm, env: dict[str, str]) -> None:
    nodes, _ = busy_swarm
    real = nodes[0].info["maddrs"][0]
    stale = real.rsplit("/p2p/", 1)[0] + f"/p2p/{OTHER_PID}"
    result = subprocess.run([*SWARM, "join", "--peers", stale, "--model", "tiny-0.5m", "--device", "cpu",
                             "--out", str(Path(env["SAPO_SWARM_HOME"]) / "n")], capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 1, result.stdout + result.stderr
    text = " ".join(result.stderr.split())
    assert "no bootstrap address works, and waiting will not fix it" in text
    assert f"a different peer answers at 127.0.0.1:{real.split('/tcp/')[1].split('/')[0]} ({real.rsplit('/', 1)[1]})" in text
    assert "restarted with a new identity" in text and "Traceback" not in result.stderr


@pytest.mark.timeout(300)
def test_join_with_a_wrong_secret_says_so_once(busy_swarm, env: dict[str, str]) -> None:
    nodes, _ = busy_swarm
    result = subprocess.run([*SWARM, "join", "--peers", nodes[0].info["maddrs"][0], "--model", "tiny-0.5m", "--device", "cpu",
                             "--secret", "not-it", "--out", str(Path(env["SAPO_SWARM_HOME"]) / "n"),
                             "--set", "transport.swarm_id=t-join", "--set", "transport.window_seconds=2",
                             "--set", "node.round.rounds=12", "--set", "node.round.min_round_s=1",
                             "--set", "node.sampler.local_i=2", "--set", "node.sampler.completions_l=4"],
                            capture_output=True, text=True, env=env, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("your secret does not match the records in this swarm") == 1, output
