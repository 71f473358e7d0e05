"""`launch_swarm(n)`: real node processes on loopback, each in its own process group.

Each node runs `tests/swarm/node_proc.py` in a new session, so its p2pd daemon shares the node's
process group and ``os.killpg`` takes both down. Only the children started here are ever killed.

    with launch_swarm(4, window_seconds=2) as nodes:
        nodes[0].request("publish", batch_id="b0")

Reference: hivemind `tests/test_utils/dht_swarms.py` (launch_dht_instances).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

NODE_SCRIPT = Path(__file__).with_name("node_proc.py")
REPO = NODE_SCRIPT.parents[2]
BASE_CONFIG = {"host_maddrs": ["/ip4/127.0.0.1/tcp/0"], "use_relay": False, "use_auto_relay": False}


class NodeProcess:
    """One node process; `request` sends a JSON command and waits for its one-line JSON reply."""

    def __init__(self, config: dict[str, Any], seed: str, log_dir: Path | None = None, script: Path = NODE_SCRIPT) -> None:
        self.seed = seed
        self.stderr = open(log_dir / f"{seed}.log", "wb") if log_dir else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, str(script), json.dumps({**BASE_CONFIG, **config}), seed],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=REPO,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.pgid = self.proc.pid  # session leader: its pid is the group id
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.info: dict[str, Any] = {}

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line.decode())
        self.lines.put("")

    def read(self, timeout: float) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        if not line:
            raise RuntimeError(f"node {self.seed} exited with {self.proc.poll()}")
        return json.loads(line)

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        self.info = self.read(timeout)
        return self.info

    @property
    def peer_id(self) -> str:
        return self.info["peer_id"]

    def send(self, cmd: str, **kwargs: Any) -> None:
        self.proc.stdin.write((json.dumps({"cmd": cmd, **kwargs}) + "\n").encode())  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def request(self, cmd: str, timeout: float = 30, **kwargs: Any) -> dict[str, Any]:
        self.send(cmd, **kwargs)
        return self.read(timeout)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill(self) -> None:
        """SIGKILL the node and its p2pd (the whole process group), then reap the node."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.proc.stdin.write(b'{"cmd": "quit"}\n')  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        if self.group_alive():
            self.kill()
        elif self.proc.poll() is None:
            self.proc.wait(timeout=10)
        if hasattr(self.stderr, "close"):
            self.stderr.close()


def start_node(config: dict[str, Any], seed: str, log_dir: Path | None = None, timeout: float = 60, script: Path = NODE_SCRIPT) -> NodeProcess:
    node = NodeProcess(config, seed, log_dir, script)
    try:
        node.wait_ready(timeout)
    except BaseException:
        node.stop(timeout=1)
        raise
    return node


@contextlib.contextmanager
def launch_swarm(
    n: int, stagger: int = 3, log_dir: Path | None = None, script: Path = NODE_SCRIPT, **config: Any
) -> Iterator[list[NodeProcess]]:
    """Start ``n`` nodes: one bootstraps, the rest join through it, at most ``stagger`` joining at once."""
    nodes: list[NodeProcess] = []
    prefix = f"n{os.getpid()}-{time.monotonic_ns() % 10**6}-"
    try:
        nodes.append(start_node(config, prefix + "0", log_dir, script=script))
        joiners = {**config, "initial_peers": nodes[0].info["maddrs"]}
        for start in range(1, n, stagger):
            group = [NodeProcess(joiners, f"{prefix}{i}", log_dir, script) for i in range(start, min(n, start + stagger))]
            nodes.extend(group)
            for node in group:
                node.wait_ready(60)
                if node.info.get("event") != "ready":
                    raise RuntimeError(f"node {node.seed} failed to start: {node.info}")
        yield nodes
    finally:
        for node in nodes:
            node.stop()
