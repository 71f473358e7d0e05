"""The chaos benchmark's honest swarm: transport processes in their namespaces, started, killed and restarted.

    swarm = Swarm(net, n=8, log_dir=Path("/tmp/chaos-logs"))
    swarm.start_all()                # node 0 first, then 3 at a time joining through the live ones
    swarm.kill(3); swarm.start(3)    # SIGKILL the node and its p2pd, restart it with the same identity

Honest nodes are `tests/swarm/node_proc.py` (the hivemind DHT transport driven by JSON commands; no
model, so the gossip is what is measured). Every node of a run is on the swarm's allow list, and so
are the attacker keys T5 and T6 use.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.chaos.network import Network
from protocol import Identity
from swarm.procs import group_members
from tests.swarm.helpers import BASE_CONFIG, NODE_SCRIPT, NodeProcess

REPO = Path(__file__).resolve().parents[2]
ATTACKER_SCRIPT = REPO / "tests" / "chaos" / "attacker_proc.py"
SYBIL_SCRIPT = REPO / "tests" / "chaos" / "sybil_proc.py"
T6_MAX_KEYS = 4
CONFIG = dict(swarm_id="chaos-bench", window_seconds=2.0, record_ttl_windows=3, windows_per_collect=2, num_shards=2,
              shards_per_collect=2, swarm_secret="bench-secret", startup_timeout_s=60.0, request_timeout_s=3.0)


class Proc(NodeProcess):
    """A node process started inside a namespace (``ip netns exec`` execs it: same pid, own session)."""

    def __init__(self, config: dict, seed: str, prefix: list[str], log: Path, script: Path = NODE_SCRIPT,
                 env: dict | None = None) -> None:
        self.seed = seed
        self.stderr = open(log, "ab")
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, str(script), json.dumps({**BASE_CONFIG, **config}), seed],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=REPO, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.pgid = self.proc.pid
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.info: dict[str, Any] = {}


def rss_mb(node: NodeProcess, only: str | None = None) -> float:
    """Resident memory of the node's process group (node + p2pd), or of its processes named `only`."""
    total = 0
    for pid in group_members(node.pgid):
        with contextlib.suppress(OSError, ValueError, IndexError, StopIteration):
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            if only is not None and status[0].split()[-1] != only:
                continue
            total += int(next(x for x in status if x.startswith("VmRSS")).split()[1])
    return total / 1024


def group_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by a process group (a node and its p2pd)."""
    total = 0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Slot:
    index: int
    seed: str
    node: NodeProcess | None = None
    killed_at: list[float] = field(default_factory=list)
    started_at: float = 0.0

    @property
    def alive(self) -> bool:
        return self.node is not None and self.node.proc.poll() is None


class Swarm:
    def __init__(self, net: Network, n: int, log_dir: Path) -> None:
        self.net, self.n, self.log_dir = net, n, log_dir
        tag = f"{os.getpid()}-{int(time.time()) % 10**6}"
        self.slots = [Slot(i, f"chaos-{tag}-h{i}") for i in range(n)]
        self.attacker_seed = f"chaos-{tag}-attacker"
        allowed = [Identity.from_seed(s.seed.encode()).peer_id for s in self.slots]
        allowed.append(Identity.from_seed(self.attacker_seed.encode()).peer_id)
        self.flood_seeds = [self.attacker_seed] + [f"chaos-{tag}-flood{j}" for j in range(1, T6_MAX_KEYS)]
        """T6: admitted attacker keys (the T5 attacker's and more), each flooding from its own process."""
        allowed += [Identity.from_seed(s.encode()).peer_id for s in self.flood_seeds[1:]]
        self.config = {**CONFIG, "allowed_peers": allowed}
        self.crashes: list[str] = []
        self.extra: list[NodeProcess] = []

    def node_config(self, i: int, initial: list[str]) -> dict:
        return {**self.config, "host_maddrs": [f"/ip4/{self.net.ip(i)}/tcp/0"], "initial_peers": initial}

    def initial_peers(self, exclude: int = -1) -> list[str]:
        return [m for s in self.slots if s.alive and s.index != exclude for m in s.node.info.get("maddrs", [])][:6]

    def start(self, i: int, env: dict | None = None) -> None:
        slot = self.slots[i]
        node = Proc(self.node_config(i, self.initial_peers(exclude=i)), slot.seed, self.net.prefix(i),
                    self.log_dir / f"h{i}.log", env=env)
        slot.node = node
        info = node.wait_ready(90)
        if info.get("event") != "ready":
            raise RuntimeError(f"node {i} failed to start: {info}")
        slot.started_at = time.time()

    def start_all(self, stagger: int = 3) -> None:
        self.start(0)
        for first in range(1, self.n, stagger):
            group = list(range(first, min(self.n, first + stagger)))
            for i in group:
                slot = self.slots[i]
                slot.node = Proc(self.node_config(i, self.initial_peers(exclude=i)), slot.seed, self.net.prefix(i),
                                 self.log_dir / f"h{i}.log")
            for i in group:
                info = self.slots[i].node.wait_ready(90)
                if info.get("event") != "ready":
                    raise RuntimeError(f"node {i} failed to start: {info}")
                self.slots[i].started_at = time.time()

    def kill(self, i: int) -> None:
        slot = self.slots[i]
        slot.node.kill()
        slot.killed_at.append(time.time())
        slot.node.stop(timeout=1)

    def spawn_extra(self, slot_index: int, config: dict, seed: str, script: Path = NODE_SCRIPT) -> NodeProcess:
        node = Proc({**config, "host_maddrs": [f"/ip4/{self.net.ip(slot_index)}/tcp/0"], "initial_peers": self.initial_peers()},
                    seed, self.net.prefix(slot_index), self.log_dir / f"{seed}.log", script=script)
        self.extra.append(node)
        info = node.wait_ready(90)
        if info.get("event") != "ready":
            raise RuntimeError(f"{seed} failed to start: {info}")
        return node

    def live(self) -> list[Slot]:
        for s in self.slots:
            if s.node is not None and s.node.proc.poll() is not None and (not s.killed_at or s.killed_at[-1] < s.started_at):
                self.crashes.append(f"h{s.index} exited {s.node.proc.returncode}")
                s.killed_at.append(time.time())
                s.node = None
        return [s for s in self.slots if s.alive]

    def stop(self) -> None:
        for node in [s.node for s in self.slots if s.node is not None] + self.extra:
            with contextlib.suppress(Exception):
                node.stop(timeout=5)
