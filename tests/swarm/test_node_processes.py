"""Real node processes (`swarm run`): two nodes learning from each other over the real DHT, and a
node killed mid-training that resumes at its round with its weights."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import torch
import yaml

from node.checkpoint import load_checkpoint
from node.metrics import read_metrics
from swarm.bootstrap import read_addresses
from swarm.procs import Child, child_env, cli_argv, group_alive, spawn, stop_all

pytestmark = pytest.mark.swarm

NODE = {
    "model": {"name": "tiny-0.5m", "threads": 1},
    "sampler": {"local_i": 4, "external_j": 4, "completions_l": 6},
    "round": {"collect_timeout_s": 2.0, "checkpoint_every": 1},
}
TRANSPORT = {"swarm_id": "t-nodes", "swarm_secret": "s3cret", "window_seconds": 2.0, "num_shards": 1,
             "max_records_per_peer_per_window": 8, "startup_timeout_s": 30.0}


def write_config(path: Path, cache_dir: str, rounds: int, transport: dict, **round_extra) -> Path:
    node = {**NODE, "model": {**NODE["model"], "cache_dir": cache_dir},
            "round": {**NODE["round"], "rounds": rounds, **round_extra}}
    path.write_text(yaml.safe_dump({"node": node, "transport": transport}))
    return path


def wait_for(predicate, timeout: float, what: str, children: list[Child]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for child in children:
            assert child.returncode in (None, 0), f"{child.name} died:\n{child.log_path.read_text()[-3000:]}"
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    stop_all(started, grace_s=5.0)
    assert not any(group_alive(c.pgid) for c in started)


def run_node(name: str, config: Path, out: Path, children: list[Child]) -> Child:
    child = spawn(name, cli_argv("run", "--config", str(config), "--out", str(out), "--identity", str(out.parent / f"{name}.pem")),
                  out.parent / f"{name}.log", env=child_env(1))
    children.append(child)
    return child


@pytest.mark.timeout(240)
def test_two_node_processes_exchange_rollouts_over_the_dht(tiny_model_config, tmp_path: Path, children: list[Child]) -> None:
    boot = spawn("bootstrap", cli_argv("bootstrap", "--out", str(tmp_path / "boot"), "--set", "transport.swarm_id=t-nodes",
                                       "--set", "transport.swarm_secret=s3cret"), tmp_path / "boot.log", env=child_env(1))
    children.append(boot)
    wait_for(lambda: read_addresses(tmp_path / "boot"), 60, "the bootstrap peer", children)
    transport = {**TRANSPORT, "initial_peers": read_addresses(tmp_path / "boot")}
    # The tiny model's rounds take ~50 ms: unpaced, one node could finish all its rounds before the
    # other's first (CI saw it). Paced to 1 s each, 10 rounds overlap by ~9 s.
    config = write_config(tmp_path / "node.yaml", tiny_model_config.cache_dir, 10, transport, wait_for_peers=1, min_round_s=1.0)
    nodes = [run_node(n, config, tmp_path / n, children) for n in ("a", "b")]
    for node in nodes:
        assert node.popen.wait(timeout=180) == 0, node.log_path.read_text()[-3000:]
    for name, other in (("a", "b"), ("b", "a")):
        rows = read_metrics(tmp_path / name / "metrics.jsonl")
        assert [r["round"] for r in rows] == list(range(10))
        assert sum(r["batches_received"] for r in rows) >= 1, f"{name} never received {other}'s rollouts"
        assert max(r["peers_seen"] for r in rows) == 1
        assert all(not r["rejections"] for r in rows), rows[-1]["rejections"]
    info = json.loads((tmp_path / "a" / "node.json").read_text())
    assert info["multiaddrs"] and info["peer_id"].startswith("sw")


@pytest.mark.timeout(300)
def test_killed_node_resumes_at_its_round_with_its_weights(tiny_model_config, tmp_path: Path, children: list[Child]) -> None:
    silo = {"type": "none"}
    long_run = write_config(tmp_path / "long.yaml", tiny_model_config.cache_dir, 10_000, silo)
    victim = run_node("victim", long_run, tmp_path / "victim", children)
    wait_for(lambda: len(read_metrics_safe(tmp_path / "victim" / "metrics.jsonl")) >= 3, 120, "3 rounds", children)
    stop_all([victim], grace_s=0.0)  # SIGKILL: no chance to clean up
    state = load_checkpoint(tmp_path / "victim" / "checkpoint")
    assert state is not None and state["round"] >= 2
    target = state["round"] + 2

    resumed_cfg = write_config(tmp_path / "resume.yaml", tiny_model_config.cache_dir, target, silo)
    shutil.copy2(tmp_path / "victim.pem", tmp_path / "reference.pem")  # same peer id: same tasks and seeds
    resumed = run_node("victim", resumed_cfg, tmp_path / "victim", children)
    reference = run_node("reference", resumed_cfg, tmp_path / "reference", children)
    for child in (resumed, reference):
        assert child.popen.wait(timeout=180) == 0, child.log_path.read_text()[-3000:]
    rows = read_metrics(tmp_path / "victim" / "metrics.jsonl")
    assert [r["round"] for r in rows] == list(range(target)), "a round was lost or repeated"
    final = load_checkpoint(tmp_path / "victim" / "checkpoint")
    expected = load_checkpoint(tmp_path / "reference" / "checkpoint")
    assert final["round"] == expected["round"] == target
    for name, tensor in expected["policy"].items():
        assert torch.equal(final["policy"][name], tensor), f"{name} differs from an uninterrupted run"


def read_metrics_safe(path: Path) -> list[dict]:
    return read_metrics(path) if path.exists() else []


HANGING_TEARDOWN = """
import asyncio, sys, threading
import hivemind.dht.node

async def never_returns(self):  # as a p2pd that never answers the control socket
    await asyncio.Event().wait()

hivemind.dht.node.DHTNode.shutdown = never_returns
threading.Thread(target=threading.Event().wait, name="stuck-library-thread").start()  # holds interpreter exit
from swarm.cli import app
app(sys.argv[1:])
"""


@pytest.mark.timeout(180)
def test_a_node_whose_teardown_hangs_still_exits_and_says_where(tiny_model_config, tmp_path: Path, children: list[Child]) -> None:
    """The last round is saved, then leaving hangs twice: in the DHT node's shutdown (bounded, then p2pd is
    killed) and at interpreter exit (the exit watchdog dumps the stacks and ends the process with 0)."""
    transport = {**TRANSPORT, "shutdown_timeout_s": 2.0}
    config = write_config(tmp_path / "node.yaml", tiny_model_config.cache_dir, 2, transport, wait_for_peers=0)
    out = tmp_path / "n"
    argv = [sys.executable, "-c", HANGING_TEARDOWN, "run", "--config", str(config), "--out", str(out),
            "--identity", str(tmp_path / "n.pem")]
    child = spawn("n", argv, tmp_path / "n.log", env=child_env(1))
    children.append(child)
    assert child.popen.wait(timeout=150) == 0, child.log_path.read_text()[-3000:]
    exited = time.time()
    log = child.log_path.read_text()
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["round"] for r in rows] == [0, 1]
    assert exited - rows[-1]["time"] < 20, "leaving took longer than its bounds"
    assert "the DHT node's shutdown did not stop within 1 s" in log and "never_returns" in log and "p2pd (pid" in log
    assert "exit took more than 2 s after the work was saved" in log
    deadline = time.monotonic() + 10
    while group_alive(child.pgid) and time.monotonic() < deadline:  # p2pd got SIGKILL from the fallback
        time.sleep(0.2)
    assert not group_alive(child.pgid), "p2pd outlived its node"
