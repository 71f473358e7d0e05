"""A private testnet on this machine: one bootstrap peer and N node processes on loopback, real DHT.

    Testnet(load_config("configs/testnet.yaml"), Path("runs/demo"), Console()).run()  # -> exit code

Steps: identities (one key file per node, 0600) and a fresh swarm secret; model cache built once
here so nodes do not race to build it; the bootstrap peer; nodes started with a stagger and at most
``testnet.max_bootstrapping`` joining at once; a live table until every node is done; then every
process group is stopped (SIGTERM, SIGKILL after ``testnet.grace_s``) and checked gone, and the
report (summary.json, plots) is written. Layout of the run folder:

    config.yaml  summary.json  processes.json  *.png
    bootstrap/{config.yaml, bootstrap.json, bootstrap.log}
    nodes/<name>/{config.yaml, identity.pem, node.json, metrics.jsonl, node.log, checkpoint/}
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live
from rich.panel import Panel

from protocol import Identity
from swarm.bootstrap import read_addresses
from swarm.config import RunConfig
from swarm.live import Board
from swarm.procs import Child, child_env, cli_argv, sigterm_as_interrupt, spawn, stop_all, supervised_env, tail
from swarm.report import build_report, summary_table


class TestnetError(Exception):
    """Raised when the testnet cannot go on: the bootstrap peer died or never came up."""

    __test__ = False


@dataclass
class NodeSpec:
    name: str
    dir: Path
    peer_id: str
    child: Child | None = None
    state: str = "waiting"


def node_config(base: RunConfig, index: int, initial_peers: list[str], secret: str, allowed: list[str] | None) -> RunConfig:
    """Node `index`'s config: its profile (round-robin), threads and the swarm's addresses and secret.

    Seeds stay shared: task draws and generation already derive from each node's peer id."""
    data = base.model_dump(mode="json")
    node, testnet = data["node"], base.testnet
    if testnet.profiles:
        profile = testnet.profiles[index % len(testnet.profiles)]
        if profile.model is not None:
            node["model"]["name"] = profile.model
        if profile.families is not None:
            node["tasks"]["families"] = [f.model_dump(mode="json") for f in profile.families]
    node["model"]["threads"] = node["model"]["threads"] or testnet.threads_per_node
    node["round"]["wait_for_peers"] = min(node["round"]["wait_for_peers"], testnet.nodes - 1)  # no waiting for absent nodes
    data["transport"].update(initial_peers=initial_peers, swarm_secret=secret, allowed_peers=allowed)
    return RunConfig.model_validate(data)


def write_config(config: RunConfig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path


def warm_models(configs: list[RunConfig], console: Console) -> None:
    """Build each distinct model once, here, before the nodes start (they would race otherwise)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers is imported
    try:
        from swarm.runner import prepare_model
    except ImportError as exc:
        console.print(f"[yellow]warning:[/] cannot pre-build models ({exc}); each node builds its own")
        return
    distinct = {(c.node.model.model_dump_json(), json.dumps(c.node.tasks.model_dump(mode="json"))): c for c in configs}
    for config in distinct.values():
        with console.status(f"preparing model {config.node.model.name} (once, shared by the nodes)"):
            prepare_model(config)


class Testnet:
    def __init__(self, config: RunConfig, run_dir: Path, console: Console) -> None:
        self.cfg, self.run_dir, self.console = config, run_dir, console
        self.net = config.testnet
        self.specs = [NodeSpec(f"node{i}", run_dir / "nodes" / f"node{i}", "") for i in range(self.net.nodes)]
        self.bootstrap: Child | None = None
        self.started = time.time()

    @property
    def children(self) -> list[Child]:
        nodes = [s.child for s in self.specs if s.child is not None]
        return ([self.bootstrap] if self.bootstrap else []) + nodes

    def run(self) -> int:
        """Run the testnet to its end (or Ctrl-C / SIGTERM); stop everything; report. Returns an exit code."""
        outcome = "finished"
        try:
            with sigterm_as_interrupt():
                self._run()
        except KeyboardInterrupt:
            outcome = "interrupted"
        except TestnetError as exc:
            outcome = "failed"
            self.console.print(f"[bold red]testnet failed:[/] {exc}")
        finally:
            leftover = self._stop()
        return self._finish(outcome, leftover)

    def _run(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(self.cfg, self.run_dir / "config.yaml")
        secret = secrets.token_hex(16)
        for spec in self.specs:
            identity = Identity.generate()
            identity.save(spec.dir / "identity.pem")
            spec.peer_id = identity.peer_id
        allowed = [s.peer_id for s in self.specs] if self.net.allow_list else None
        configs = [node_config(self.cfg, i, [], secret, allowed) for i in range(len(self.specs))]
        warm_models(configs, self.console)
        maddrs = self._start_bootstrap(configs[0])
        board = Board({s.name: s.dir for s in self.specs}, rounds=self.cfg.node.round.rounds)
        board.models = {s.name: c.node.model.name for s, c in zip(self.specs, configs)}
        with Live(board.table(), console=self.console, refresh_per_second=2) as live:
            for index, spec in enumerate(self.specs):
                self._wait_for_slot(board, live)
                config = node_config(self.cfg, index, maddrs, secret, allowed)
                self._start_node(spec, config)
                self._sleep(self.net.stagger_s, board, live)
            while any(s.state in ("starting", "running") for s in self.specs):
                if time.time() - self.started > self.net.timeout_s:
                    raise TestnetError(f"timed out after testnet.timeout_s={self.net.timeout_s:.0f}s" + "".join(
                        f"\n{s.name} still {s.state}; log tail:\n{tail(s.child.log_path)}"
                        for s in self.specs if s.child is not None and s.state in ("starting", "running")))
                self._sleep(0.5, board, live)

    def _start_bootstrap(self, node_cfg: RunConfig) -> list[str]:
        folder = self.run_dir / "bootstrap"
        config = write_config(node_cfg.model_copy(update={"transport": node_cfg.transport.model_copy(
            update={"initial_peers": []})}), folder / "config.yaml")  # the nodes' checks, allow list included
        argv = cli_argv("bootstrap", "--config", str(config), "--out", str(folder))
        self.bootstrap = spawn("bootstrap", argv, folder / "bootstrap.log", supervised_env(child_env(1)))
        self._record()
        deadline = time.monotonic() + self.cfg.transport.startup_timeout_s
        with self.console.status("starting the bootstrap peer"):
            while (maddrs := read_addresses(folder)) is None:
                if self.bootstrap.returncode is not None or time.monotonic() > deadline:
                    raise TestnetError(f"bootstrap peer did not come up; log tail:\n{tail(self.bootstrap.log_path)}")
                time.sleep(0.2)
        self.console.print(f"bootstrap peer up: {' '.join(maddrs)}", highlight=False, soft_wrap=True)
        return maddrs

    def _start_node(self, spec: NodeSpec, config: RunConfig) -> None:
        path = write_config(config, spec.dir / "config.yaml")
        argv = cli_argv("run", "--config", str(path), "--out", str(spec.dir), "--identity", str(spec.dir / "identity.pem"))
        spec.child = spawn(spec.name, argv, spec.dir / "node.log",
                           supervised_env(child_env(config.node.model.threads or 1)))
        self._record()
        spec.state = "starting"

    def _wait_for_slot(self, board: Board, live: Live) -> None:
        deadline = time.monotonic() + self.cfg.transport.startup_timeout_s
        while sum(s.state == "starting" for s in self.specs) >= self.net.max_bootstrapping:
            if time.monotonic() > deadline:
                return  # a slow joiner must not hold the others back forever
            self._sleep(0.2, board, live)

    def _sleep(self, seconds: float, board: Board, live: Live) -> None:
        end = time.monotonic() + seconds
        while True:
            self._tick(board, live)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.25))

    def _tick(self, board: Board, live: Live) -> None:
        if self.bootstrap is not None and self.bootstrap.returncode is not None:
            raise TestnetError(f"bootstrap peer exited ({self.bootstrap.returncode}):\n{tail(self.bootstrap.log_path)}")
        board.poll()
        for spec in self.specs:
            self._update_state(spec, live)
            board.set_state(spec.name, spec.state)
        live.update(board.table(title=f"Testnet {self.run_dir} ({time.time() - self.started:.0f}s)"))

    def _update_state(self, spec: NodeSpec, live: Live) -> None:
        if spec.child is None or spec.state in ("done", "died"):
            return
        rc = spec.child.returncode
        if rc == 0:
            spec.state = "done"
        elif rc is not None:
            spec.state = "died"
            live.console.print(Panel(tail(spec.child.log_path) or "(empty log)",
                                     title=f"{spec.name} died (exit {rc}); log {spec.child.log_path}", style="red"))
        elif spec.state == "starting" and ((spec.dir / "node.json").exists() or (spec.dir / "metrics.jsonl").exists()):
            spec.state = "running"

    def _stop(self) -> list[int]:
        for spec in self.specs:
            if spec.state in ("starting", "running"):
                spec.state = "stopped"
        leftover = stop_all(self.children, self.net.grace_s)
        if self.run_dir.exists():
            self._record(leftover)
        if leftover:
            self.console.print(f"[bold red]processes still alive after SIGKILL:[/] {leftover}")
        return leftover

    def _record(self, leftover: list[int] | None = None) -> None:
        """processes.json, rewritten at each spawn, so a supervisor can find every group we started."""
        records = [{"name": c.name, "pid": c.popen.pid, "pgid": c.pgid, "returncode": c.returncode} for c in self.children]
        (self.run_dir / "processes.json").write_text(json.dumps({"processes": records, "leftover_pids": leftover}, indent=2))

    def _finish(self, outcome: str, leftover: list[int]) -> int:
        if not self.run_dir.exists():
            return 1
        died = {s.name: s.child.returncode for s in self.specs if s.state == "died" and s.child}
        extra: dict[str, Any] = {"outcome": outcome, "run_dir": str(self.run_dir), "died": died,
                                 "states": {s.name: s.state for s in self.specs},
                                 "wall_time_s": time.time() - self.started, "leftover_pids": leftover}
        summary, plots = build_report(self.run_dir, extra)
        self.console.print()
        self.console.print(summary_table(summary))
        for name, rc in died.items():
            self.console.print(f"[red]{name} died (exit {rc})[/]; log: {self.run_dir / 'nodes' / name / 'node.log'}")
        self.console.print(f"{outcome}: {self.run_dir}/summary.json, plots: " + ", ".join(p.name for p in plots))
        if outcome == "interrupted":
            return 130
        return 0 if outcome == "finished" and not died and not leftover else 1
