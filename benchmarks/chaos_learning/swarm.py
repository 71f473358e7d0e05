"""The learning swarm: real `swarm run` nodes (tiny models), each in its own namespace, killed and restarted.

    swarm = LearningSwarm(net, n=4, window_s=3.0, work=Path("/tmp/work"))
    swarm.start_all()                # node 0 starts the swarm; the rest join through the live ones
    restart = swarm.kill(2)          # SIGKILL node 2's group; what it had done and its checkpoint
    swarm.start(2)                   # same identity and run folder: it resumes from its checkpoint

Identities come from fixed seeds, so runs draw the same tasks and generation seeds.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.chaos.network import Network
from benchmarks.chaos.swarm import rss_mb
from node.metrics import read_metrics
from protocol import Identity
from swarm.config import RunConfig, load_config
from swarm.join import read_node_info
from swarm.procs import Child, child_env, cli_argv, group_members, spawn, stop_all
from swarm.testnet import write_config

REPO = Path(__file__).resolve().parents[2]
KILL_EVERY_S = 20.0
RESTART_AFTER_S = 10.0
STALL_S = 30.0
SECRET = "chaos-learning-secret"


def node_settings(n: int, window_s: float) -> dict[str, Any]:
    """Overrides on configs/testnet.yaml: every node tiny-0.5m, small rounds, a checkpoint every round."""
    return {
        "node.model.name": "tiny-0.5m", "node.model.threads": 1,
        "node.sampler.local_i": 4, "node.sampler.external_j": 4, "node.sampler.completions_l": 8,
        "node.round.rounds": 100_000, "node.round.checkpoint_every": 1, "node.round.collect_timeout_s": 1.0,
        "node.round.wait_for_peers": n - 1, "node.round.wait_for_peers_s": 90,
        "transport.swarm_id": "chaos-learning", "transport.window_seconds": window_s,
        "transport.swarm_secret": SECRET, "transport.startup_timeout_s": 60.0,
    }


def base_config(n: int, window_s: float) -> RunConfig:
    overrides = [f"{k}={json.dumps(v)}" for k, v in node_settings(n, window_s).items()]
    return load_config(REPO / "configs" / "testnet.yaml", overrides)


@dataclass
class Restart:
    node: int
    killed_at: float
    completed_before_kill: int
    """Rounds in metrics.jsonl right after the kill (before the restart rewinds it)."""
    checkpoint_round: int | None
    restarted_at: float | None = None
    resumed_at_round: int | None = None
    up_s: float | None = None
    """Restart to node.json (transport joined, checkpoint restored)."""
    first_round_s: float | None = None
    first_round_batches: int | None = None
    first_round_external: int | None = None
    first_batches_s: float | None = None
    """Restart to the first round that received peers' batches: current again."""
    rss_before_kill_mb: float = 0.0

    @property
    def rounds_lost(self) -> int | None:
        return None if self.checkpoint_round is None else self.completed_before_kill - self.checkpoint_round


@dataclass
class Slot:
    index: int
    dir: Path
    identity: Identity
    child: Child | None = None
    started_at: float = 0.0
    killed: bool = False
    down: list[tuple[float, float]] = field(default_factory=list)
    """(kill time, first round after the restart) intervals: gaps inside them are not stalls."""
    exits: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.child is not None and self.child.returncode is None


class LearningSwarm:
    def __init__(self, net: Network, n: int, window_s: float, work: Path) -> None:
        self.net, self.n, self.work = net, n, work
        self.config = base_config(n, window_s)
        self.slots = [Slot(i, work / f"node{i}", Identity.from_seed(f"chaos-learning-h{i}".encode())) for i in range(n)]
        self.allowed = [s.identity.peer_id for s in self.slots]
        for slot in self.slots:
            slot.dir.mkdir(parents=True, exist_ok=True)
            slot.identity.save(slot.dir / "identity.pem")
        self.crashes: list[str] = []

    def node_config(self, i: int) -> RunConfig:
        data = self.config.model_dump(mode="json")
        data["transport"].update(host_maddrs=[f"/ip4/{self.net.ip(i)}/tcp/0"], initial_peers=self.initial_peers(i),
                                 allowed_peers=self.allowed)
        return RunConfig.model_validate(data)

    def initial_peers(self, exclude: int) -> list[str]:
        """Multiaddrs of the live nodes that wrote node.json since their (re)start."""
        out = []
        for s in self.slots:
            if s.index != exclude and s.alive and (info := read_node_info(s.dir, s.started_at)) is not None:
                out += info.get("multiaddrs", [])
        return out[:6]

    def start(self, i: int) -> None:
        slot = self.slots[i]
        config = write_config(self.node_config(i), slot.dir / "config.yaml")
        argv = [*self.net.prefix(i), *cli_argv("run", "--config", str(config), "--out", str(slot.dir),
                                              "--identity", str(slot.dir / "identity.pem"))]
        slot.started_at, slot.killed = time.time(), False
        slot.child = spawn(f"node{i}", argv, slot.dir / "node.log", child_env(1))

    def wait_up(self, indices: list[int], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(read_node_info(self.slots[i].dir, self.slots[i].started_at) for i in indices):
            self.check_exits()
            if time.monotonic() > deadline or any(not self.slots[i].alive for i in indices):
                raise RuntimeError(f"nodes {indices} did not come up; see {self.work}/node*/node.log")
            time.sleep(0.3)

    def start_all(self, group: int = 3) -> None:
        """Node 0 first (it starts the swarm), then the others in groups joining through the live ones."""
        self.start(0)
        self.wait_up([0])
        for first in range(1, self.n, group):
            indices = list(range(first, min(self.n, first + group)))
            for i in indices:
                self.start(i)
            self.wait_up(indices)

    def kill(self, i: int) -> Restart:
        """SIGKILL node i's whole group (node and p2pd), check it is gone, note what it had done."""
        slot = self.slots[i]
        rss = rss_mb(slot.child)
        slot.killed = True
        os.killpg(slot.child.pgid, signal.SIGKILL)
        slot.child.popen.wait(timeout=10)
        deadline = time.monotonic() + 10
        while group_members(slot.child.pgid) and time.monotonic() < deadline:
            time.sleep(0.1)  # the orphaned daemon is reaped by init
        if left := group_members(slot.child.pgid):
            self.crashes.append(f"node{i}: pids {left} survived SIGKILL of their group")
        killed_at = time.time()
        rows = metrics(slot.dir)
        slot.exits.append("killed")
        return Restart(i, killed_at, (max(r["round"] for r in rows) + 1) if rows else 0, checkpoint_round(slot.dir),
                       rss_before_kill_mb=round(rss, 1))

    def check_exits(self) -> None:
        """Any exit we did not cause is a crash."""
        for s in self.slots:
            if s.child is not None and not s.killed and s.child.returncode is not None:
                self.crashes.append(f"node{s.index} exited {s.child.returncode} at {time.time():.0f}")
                s.exits.append(f"exit {s.child.returncode}")
                s.killed = True  # counted once

    def stop(self) -> list[int]:
        for s in self.slots:
            s.killed = True
        return stop_all([s.child for s in self.slots if s.child is not None], grace_s=10.0)


def metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    return read_metrics(path) if path.exists() else []


def checkpoint_round(folder: Path) -> int | None:
    from node.checkpoint import load_checkpoint

    state = load_checkpoint(folder / "checkpoint")
    return None if state is None else int(state["round"])


def tracebacks(folder: Path) -> int:
    try:
        return (folder / "node.log").read_text(errors="replace").count("Traceback (most recent call last)")
    except FileNotFoundError:
        return 0


def mean_of(xs: list) -> float | None:
    """Mean of the numbers in ``xs`` (3 decimals), None when there are none."""
    xs = [x for x in xs if isinstance(x, (int, float))]
    return round(statistics.fmean(xs), 3) if xs else None
