"""A node left alone, end to end through the `swarm` command (real processes; the DHT where a swarm is needed).

- a silo `swarm run`: one log line per round, refused twins (same identity, same state folder), reported
  stalled while SIGSTOPped, and "stopped" in health.json after SIGTERM;
- `swarm join` supervising a node that is SIGKILLed three times: it resumes each time, and no metrics row
  is lost or repeated;
- a node whose `swarm join` is SIGKILLed stops by itself, saved, and its locks are free for a restart;
- a generate-only node paced to its publish cap publishes at least 95% of the groups it generates.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from node.health import read_health
from node.metrics import read_metrics
from swarm.bootstrap import read_addresses
from swarm.procs import Child, child_env, cli_argv, group_alive, spawn, stop_all
from tests.swarm.test_node_processes import wait_for

pytestmark = pytest.mark.slow

ROUND_LINE = re.compile(r" node\.round INFO: round (\d+)  reward ")
TINY = {"model": {"name": "tiny-0.5m", "threads": 1}, "sampler": {"local_i": 2, "external_j": 2, "completions_l": 4}}
LOOPBACK = {"host_maddrs": ["/ip4/127.0.0.1/tcp/0"], "swarm_id": "t-unattended", "swarm_secret": "s3cret",
            "window_seconds": 2.0, "num_shards": 1, "startup_timeout_s": 60.0}


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    stop_all(started, grace_s=5.0)
    assert not any(group_alive(c.pgid) for c in started)


def config(path: Path, cache_dir: str, rounds: int, transport: dict, round_extra: dict | None = None, **sections) -> Path:
    node = {**TINY, "model": {**TINY["model"], "cache_dir": cache_dir}, "round": {"rounds": rounds, **(round_extra or {})}}
    path.write_text(yaml.safe_dump({"node": node, "transport": transport, **sections}))
    return path


def rounds_done(folder: Path) -> int:
    return int((read_health(folder / "health.json") or {}).get("rounds_done") or 0)


def swarm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=timeout,
                          env=dict(child_env(1), COLUMNS="200"))


def start_bootstrap(tmp_path: Path, children: list[Child]) -> list[str]:
    boot = spawn("bootstrap", cli_argv("bootstrap", "--out", str(tmp_path / "boot"), "--set", "transport.swarm_id=t-unattended",
                                       "--set", "transport.swarm_secret=s3cret"), tmp_path / "boot.log", env=child_env(1))
    children.append(boot)
    wait_for(lambda: read_addresses(tmp_path / "boot"), 90, "the bootstrap peer", children)
    return read_addresses(tmp_path / "boot")


@pytest.mark.timeout(400)
def test_a_silo_node_logs_refuses_twins_and_is_seen_stalled(tiny_model_config, tmp_path: Path, children: list[Child]) -> None:
    out, key = tmp_path / "node", tmp_path / "node.pem"
    cfg = config(tmp_path / "silo.yaml", tiny_model_config.cache_dir, 10_000, {"type": "none"}, {"min_round_s": 0.3})
    node = spawn("node", cli_argv("run", "--config", str(cfg), "--out", str(out), "--identity", str(key)),
                 tmp_path / "node.stdout", env=child_env(1))
    children.append(node)
    wait_for(lambda: rounds_done(out) >= 5, 180, "5 rounds", children)

    twin = swarm("run", "--config", str(cfg), "--out", str(tmp_path / "twin"), "--identity", str(key))
    assert twin.returncode == 2 and f"is in use by pid {node.popen.pid}" in twin.stderr, twin.stderr
    assert "swarm.cli run" in twin.stderr and f"identity {key}" in twin.stderr
    squatter = swarm("run", "--config", str(cfg), "--out", str(out), "--identity", str(tmp_path / "other.pem"))
    assert squatter.returncode == 2 and f"state folder {out} is in use by pid {node.popen.pid}" in squatter.stderr

    node.popen.send_signal(signal.SIGSTOP)
    try:
        time.sleep(12)  # the stall floor is 10 s; its median round is ~0.3 s
        report = json.loads(swarm("status", "--json", str(out)).stdout)
        (health,) = report["nodes"]
        assert "stalled" in health["assessment"]["flags"], health["assessment"]
    finally:
        node.popen.send_signal(signal.SIGCONT)
    done = rounds_done(out)
    wait_for(lambda: rounds_done(out) > done, 60, "a round after SIGCONT", children)
    assert json.loads(swarm("status", "--json", str(out)).stdout)["nodes"][0]["assessment"]["flags"] == []

    node.popen.send_signal(signal.SIGTERM)
    assert node.popen.wait(timeout=60) == 130
    health = read_health(out / "health.json")
    assert health["status"] == "stopped" and health["pid"] == node.popen.pid
    log = (out / "node.log").read_text()
    numbers = [int(m.group(1)) for m in ROUND_LINE.finditer(log)]
    assert numbers == list(range(1, health["rounds_done"] + 1)), "not one line per round"
    assert "starting: 10000 rounds" in log and "stopped after round" in log


@pytest.mark.swarm
@pytest.mark.timeout(600)
def test_a_supervised_node_resumes_after_three_sigkills(tiny_model_config, tmp_path: Path, children: list[Child]) -> None:
    maddrs = start_bootstrap(tmp_path, children)
    out, rounds = tmp_path / "node", 40
    cfg = config(tmp_path / "join.yaml", tiny_model_config.cache_dir, rounds, {**LOOPBACK, "initial_peers": maddrs},
                 {"checkpoint_every": 5, "min_round_s": 0.3}, supervisor={"backoff_initial_s": 0.5, "max_failures": 3})
    join = spawn("join", cli_argv("join", "--config", str(cfg), "--out", str(out), "--identity", str(tmp_path / "key.pem")),
                 tmp_path / "join.out", env=child_env(1))
    children.append(join)
    killed: list[int] = []
    for target in (7, 16, 24):
        wait_for(lambda: rounds_done(out) >= target and (read_health(out / "health.json") or {}).get("pid") not in killed,
                 240, f"round {target}", children)
        pid = read_health(out / "health.json")["pid"]
        os.killpg(pid, signal.SIGKILL)  # the node and its p2pd: its whole session
        killed.append(pid)
    assert join.popen.wait(timeout=360) == 0, (tmp_path / "join.out").read_text()[-4000:]
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["round"] for r in rows] == list(range(rounds)), "a metrics row was lost or repeated"
    log = (out / "node.log").read_text()
    assert len(re.findall(r"resumed from round \d+", log)) == 3
    supervisor_log = (out / "supervisor.log").read_text()
    assert supervisor_log.count("crashed (killed by signal SIGKILL)") == 3 and "finished its rounds" in supervisor_log
    assert "round 40  reward" in (tmp_path / "join.out").read_text()  # the node's lines reach the join terminal


@pytest.mark.swarm
@pytest.mark.timeout(400)
def test_a_node_stops_when_its_supervisor_is_killed(tiny_model_config, tmp_path: Path, children: list[Child]) -> None:
    maddrs = start_bootstrap(tmp_path, children)
    out, key = tmp_path / "node", tmp_path / "key.pem"
    cfg = config(tmp_path / "join.yaml", tiny_model_config.cache_dir, 10_000, {**LOOPBACK, "initial_peers": maddrs},
                 {"min_round_s": 0.3})
    join = spawn("join", cli_argv("join", "--config", str(cfg), "--out", str(out), "--identity", str(key)),
                 tmp_path / "join.out", env=child_env(1))
    children.append(join)
    wait_for(lambda: rounds_done(out) >= 3, 240, "3 rounds", children)
    node_pid = read_health(out / "health.json")["pid"]
    try:
        join.popen.send_signal(signal.SIGKILL)  # the supervisor alone: its node child is in a session of its own
        join.popen.wait(timeout=10)
        start = time.monotonic()
        while group_alive(node_pid) and time.monotonic() - start < 60:
            time.sleep(0.2)
        seconds = time.monotonic() - start
        assert not group_alive(node_pid), "the node (or its p2pd) outlived its supervisor by 60 s"
    finally:
        if group_alive(node_pid):
            os.killpg(node_pid, signal.SIGKILL)
    log = (out / "node.log").read_text()
    assert f"the supervisor (pid {join.popen.pid}) is gone" in log, log[-3000:]
    health = read_health(out / "health.json") or {}
    assert health.get("status") == "stopped" and "stopped after round" in log, health
    rounds = f"node.round.rounds={rounds_done(out) + 1}"  # a restart finds the identity and state folder free
    again = swarm("run", "--config", str(cfg), "--out", str(out), "--identity", str(key), "--set", rounds, timeout=180)
    assert again.returncode == 0, again.stderr[-3000:]
    print(f"\nnode stopped {seconds:.1f} s after its supervisor was killed")


@pytest.mark.swarm
@pytest.mark.timeout(400)
def test_a_generate_only_node_publishes_what_it_makes(tiny_model_config, tmp_path: Path, children: list[Child]) -> None:
    maddrs = start_bootstrap(tmp_path, children)
    out = tmp_path / "gen"
    transport = {**LOOPBACK, "initial_peers": maddrs, "max_records_per_peer_per_window": 2}  # 2 s windows: one per 1.05 s
    cfg = config(tmp_path / "gen.yaml", tiny_model_config.cache_dir, 20, transport, {"train": False})
    node = spawn("gen", cli_argv("run", "--config", str(cfg), "--out", str(out), "--identity", str(tmp_path / "gen.pem")),
                 tmp_path / "gen.stdout", env=child_env(1))
    children.append(node)
    assert node.popen.wait(timeout=300) == 0, (out / "node.log").read_text()[-3000:]
    records = read_health(out / "health.json")["records"]
    assert records["groups_generated"] == 20 * TINY["sampler"]["local_i"]
    assert records["groups_published"] >= 0.95 * records["groups_generated"], records
    log = (out / "node.log").read_text()
    assert "published 2/2 groups" in log and "trained on 0 external" not in log
