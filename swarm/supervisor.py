"""`swarm join`'s supervisor: keep node processes running, restart the ones that crash, and say why.

Each node runs as a `swarm run` child process in its own session: it writes every line to its rotating
``node.log`` and only warnings, tracebacks and crashes to ``node.stdout`` (its stdout and stderr).
A child that exits 0 has done its rounds. One that crashes (any other exit, a signal, SIGKILL from the
OOM killer) is restarted after a capped exponential backoff and resumes from its checkpoint; its exit
code and the last lines of its log go to the supervisor's log. A run that finished at least one round
resets the count; after ``max_failures`` crashes in a row without progress the supervisor gives up on
that node and says why. A child that refuses to start (exit 2: a bad config, a lock held by another
process) is not retried. Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL after a grace). A
supervisor that dies without stopping them (SIGKILL, the OOM killer) is noticed by each child, which then
stops as on SIGTERM (`swarm.join.run_here`), so no node trains on unsupervised and a restart resumes it.

    sup = Supervisor([Supervised("node", argv, out, env, locks)], SupervisorConfig(), echo=print)
    exit_code = sup.run()

Every line a node writes to its log is echoed (`echo`) as it appears, so the terminal shows the node's
per-round lines; `status_line` is the one-line summary a live display keeps at the bottom.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field

from node.health import read_health
from swarm.locks import Lock, inherited_env
from swarm.logs import ENV_STDERR_LEVEL
from swarm.procs import Child, sigterm_as_interrupt, spawn, stop_all, supervised_env, tail

logger = logging.getLogger(__name__)

REFUSED = 2
"""Exit status of a `swarm run` that refused to start (bad config, lock held): retrying cannot help."""
STOPPED = (130, -signal.SIGTERM, -signal.SIGINT)
"""Exit statuses of a node that was asked to stop (not a crash)."""


class SupervisorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    max_failures: int = Field(5, ge=1, le=1000)
    """Crashes in a row (no round finished in between) after which `swarm join` stops restarting a node."""
    backoff_initial_s: float = Field(2.0, ge=0.0, le=3600.0)
    """Wait before the first restart; doubled after each further crash in a row."""
    backoff_max_s: float = Field(300.0, ge=0.0, le=86_400.0)
    """Longest wait between two restarts."""
    grace_s: float = Field(30.0, ge=0.0, le=600.0)
    """On Ctrl-C / SIGTERM: seconds a node has to save and leave before it is killed."""
    log_lines: int = Field(20, ge=0, le=1000)
    """Lines of a crashed node's log copied into the supervisor's log."""


def backoff_s(config: SupervisorConfig, failures: int) -> float:
    """Wait before restarting after the `failures`-th crash in a row: doubled each time, capped.

    >>> [backoff_s(SupervisorConfig(backoff_initial_s=2, backoff_max_s=30), k) for k in range(1, 6)]
    [2.0, 4.0, 8.0, 16.0, 30.0]
    """
    return float(min(config.backoff_max_s, config.backoff_initial_s * 2 ** (failures - 1)))


@dataclass
class Supervised:
    """One node process to keep alive: how to start it and where it writes."""

    name: str
    argv: list[str]
    folder: Path
    """Its state folder: node.log, metrics.jsonl, health.json, checkpoint/."""
    env: dict[str, str]
    locks: list[Lock] = field(default_factory=list)
    """Locks taken for it by the supervisor, handed down to the child."""
    child: Child | None = None
    state: str = "starting"
    failures: int = 0
    restarts: int = 0
    restart_at: float = 0.0
    rounds_at_start: int = 0
    started_at: float = 0.0
    log_offset: int = 0

    @property
    def log_path(self) -> Path:
        """What the node logs (rotating); echoed as it grows."""
        return self.folder / "node.log"

    @property
    def output_path(self) -> Path:
        """The node process's stdout and stderr: warnings, tracebacks, what dies with it."""
        return self.folder / "node.stdout"

    def last_lines(self, lines: int) -> str:
        parts = [(path.name, tail(path, lines)) for path in (self.log_path, self.output_path)]
        return "\n".join(f"--- {name}:\n{text}" for name, text in parts if text)

    def rounds_done(self) -> int:
        health = read_health(self.folder / "health.json") or {}
        return int(health.get("rounds_done") or 0)


class Supervisor:
    """Runs `nodes` until each is done, has given up, or the supervisor is interrupted."""

    def __init__(self, nodes: list[Supervised], config: SupervisorConfig, echo: Callable[[str], None] | None = None,
                 on_tick: Callable[[], None] | None = None, poll_s: float = 0.5) -> None:
        self.nodes, self.config, self.echo, self.on_tick, self.poll_s = nodes, config, echo, on_tick, poll_s

    def run(self) -> int:
        """0 when every node finished its rounds, 1 when one was given up on, 130 when interrupted."""
        try:
            with sigterm_as_interrupt():
                for node in self.nodes:  # inside: a Ctrl-C between two starts stops the ones started
                    node.log_offset = node.log_path.stat().st_size if node.log_path.exists() else 0
                    self._start(node)
                while any(n.state in ("running", "waiting") for n in self.nodes):
                    time.sleep(self.poll_s)  # children are polled: there is nothing to await across processes
                    self.tick()
        except KeyboardInterrupt:
            logger.info("stopping %d node(s); a restart of the same command resumes them", len(self.nodes))
            return 130
        finally:
            self._stop_all()
        return 0 if all(n.state == "done" for n in self.nodes) else 1

    def tick(self) -> None:
        """One look at every node: echo new log lines, notice exits, start what is due."""
        for node in self.nodes:
            self._echo_new_lines(node)
            if node.state == "running" and node.child is not None and node.child.returncode is not None:
                self._on_exit(node, node.child.returncode)
            elif node.state == "waiting" and time.monotonic() >= node.restart_at:
                self._start(node)
        if self.on_tick is not None:
            self.on_tick()

    # ------------------------------------------------------------------ lifecycle

    def _start(self, node: Supervised) -> None:
        node.rounds_at_start, node.started_at = node.rounds_done(), time.monotonic()
        env = supervised_env({**node.env, **inherited_env(node.locks), ENV_STDERR_LEVEL: "warning"})
        node.child = spawn(node.name, node.argv, node.output_path, env, pass_fds=[lock.fd for lock in node.locks])
        node.state = "running"
        logger.info("%s: started (pid %d, log %s)%s", node.name, node.child.popen.pid, node.log_path,
                    f", restart {node.restarts}" if node.restarts else "")

    def _on_exit(self, node: Supervised, code: int) -> None:
        self._echo_new_lines(node)
        ran_s = time.monotonic() - node.started_at
        if code == 0:
            node.state = "done"
            logger.info("%s: finished its rounds (%d done)", node.name, node.rounds_done())
            return
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit code {code}"
        last = node.last_lines(self.config.log_lines)
        if code in STOPPED:
            node.state = "stopped"
            logger.warning("%s: stopped from outside (%s) after %.0f s; not restarting it", node.name, how, ran_s)
            return
        if code == REFUSED:
            node.state = "failed"
            logger.error("%s: refused to start (%s); not retrying. Last log lines:\n%s", node.name, how, last)
            return
        progressed = node.rounds_done() > node.rounds_at_start
        node.failures = 1 if progressed else node.failures + 1
        if node.failures >= self.config.max_failures:
            node.state = "failed"
            logger.error("%s: crashed %d times in a row without finishing a round (last: %s); giving up. "
                         "Last log lines:\n%s", node.name, node.failures, how, last)
            return
        delay = backoff_s(self.config, node.failures)
        node.state, node.restart_at, node.restarts = "waiting", time.monotonic() + delay, node.restarts + 1
        logger.warning("%s: crashed (%s) after %.0f s at round %d; restarting in %.1f s from its checkpoint "
                       "(crash %d of at most %d in a row). Last log lines:\n%s", node.name, how, ran_s,
                       node.rounds_done(), delay, node.failures, self.config.max_failures, last)

    def _stop_all(self) -> None:
        children = [n.child for n in self.nodes if n.child is not None and n.child.returncode is None]
        if children:
            stop_all(children, grace_s=self.config.grace_s)
        for node in self.nodes:
            self._echo_new_lines(node)
            if node.state in ("running", "waiting"):
                node.state = "stopped"

    # ------------------------------------------------------------------ output

    def _echo_new_lines(self, node: Supervised) -> None:
        if self.echo is None:
            return
        try:
            with node.log_path.open("rb") as f:
                if f.seek(0, 2) < node.log_offset:
                    node.log_offset = 0  # rotated: the new file starts from the beginning
                f.seek(node.log_offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next look
        node.log_offset += end
        for line in data[:end].decode("utf-8", errors="replace").splitlines():
            self.echo(line)

    def status_line(self) -> str:
        """One line over every node: state, rounds, reward (recent mean and peak), restarts."""
        parts = []
        for node in self.nodes:
            health = read_health(node.folder / "health.json") or {}
            mean, peak = health.get("reward_mean"), health.get("reward_peak")
            reward = f"reward {mean:.3f} (peak {peak:.3f})" if mean is not None and peak is not None else ""
            parts.append(f"{node.name}: {node.state}, {health.get('rounds_done', 0)} rounds {reward}"
                         f"{f', {node.restarts} restarts' if node.restarts else ''}")
        return " | ".join(parts)
