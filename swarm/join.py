"""Running nodes for `swarm run` / `swarm join`: in this process, or one child process per GPU.

    >>> offset_ports(["/ip4/0.0.0.0/tcp/31337", "/ip4/127.0.0.1/tcp/0"], 1)
    ['/ip4/0.0.0.0/tcp/31338', '/ip4/127.0.0.1/tcp/0']

A node writes ``node.json`` (peer id, multiaddrs) once it has joined; `run_here` reports it through
``on_up`` so the user sees the addresses to share. SIGTERM stops a node as Ctrl-C does: the round
in flight is cancelled, the transport leaves the swarm, metrics are flushed, and a restart with the
same ``--out`` resumes from the last checkpoint. Leaving is bounded (`swarm.shutdown`): a node whose
teardown hangs logs where and exits anyway.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from protocol import Identity
from swarm.config import RunConfig
from swarm.procs import Child, child_env, cli_argv, sigterm_as_interrupt, spawn, stop_all, tail
from swarm.shutdown import arm_exit_watchdog
from swarm.testnet import write_config

NodeInfo = dict[str, Any]


def read_node_info(out_dir: Path, newer_than: float = 0.0) -> NodeInfo | None:
    """``node.json`` if the node wrote it after `newer_than` (a restart leaves an old one behind)."""
    path = out_dir / "node.json"
    try:
        if path.stat().st_mtime < newer_than:
            return None
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


async def _announce(out_dir: Path, since: float, on_up: Callable[[NodeInfo], None]) -> None:
    while (info := read_node_info(out_dir, since)) is None:
        await asyncio.sleep(0.5)
    on_up(info)


def run_here(config: RunConfig, out_dir: Path, identity: Identity, on_up: Callable[[NodeInfo], None] | None = None) -> None:
    """Run one node in this process until its rounds are done; Ctrl-C or SIGTERM cancels it cleanly."""
    from swarm.runner import run_node

    async def main() -> None:
        main_task = asyncio.current_task()
        assert main_task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
        since = time.time() - 1.0
        watcher = asyncio.create_task(_announce(out_dir, since, on_up)) if on_up else None
        saved = False
        try:
            await run_node(config, out_dir, identity)
            saved = True
        finally:
            # checkpoint and metrics are written: what is left (loop teardown, interpreter exit) may not hang us
            arm_exit_watchdog(config.transport.shutdown_timeout_s, code=0 if saved else 1)
            if watcher is not None and not watcher.done():  # a short run can end before the watcher looks
                watcher.cancel()
                if (info := read_node_info(out_dir, since)) is not None:
                    on_up(info)

    asyncio.run(main())


def run_per_gpu(config: RunConfig, gpus: list[int], out_dir: Path, identities: list[Path], console: Console) -> int:
    """One `swarm run` child per GPU (CUDA_VISIBLE_DEVICES=<gpu>, out_dir/gpu<N>); waits for all.

    Each child has its own identity, state folder and listen ports (the k-th child's fixed ports are
    shifted by k, so two nodes never bind the same one; port 0 stays "any free port")."""
    started = time.time()
    children: dict[str, tuple[Child, Path]] = {}
    for k, (gpu, identity) in enumerate(zip(gpus, identities)):
        folder = out_dir / f"gpu{gpu}"
        node_cfg = per_gpu_config(config, k)
        path = write_config(node_cfg, folder / "config.yaml")
        env = dict(child_env(config.node.model.threads or 1), CUDA_VISIBLE_DEVICES=str(gpu))
        argv = cli_argv("run", "--config", str(path), "--out", str(folder), "--identity", str(identity))
        children[f"gpu{gpu}"] = (spawn(f"gpu{gpu}", argv, folder / "node.log", env), folder)
        console.print(f"gpu{gpu}: started (log {folder / 'node.log'})")
    code = 0
    try:
        with sigterm_as_interrupt():
            _wait_all(children, started, console)
    except KeyboardInterrupt:
        code = 130
    finally:
        stop_all([child for child, _ in children.values()], grace_s=30.0)
    for name, (child, _) in children.items():
        if child.returncode not in (0, None, -signal.SIGTERM) and code == 0:
            console.print(f"[red]{name} exited with {child.returncode}[/]; log tail:\n{tail(child.log_path)}")
            code = 1
    return code


def per_gpu_config(config: RunConfig, k: int) -> RunConfig:
    """The config of the k-th GPU's node: device cuda:0 (its only visible GPU) and ports shifted by k."""
    transport = config.transport.model_copy(update={"host_maddrs": offset_ports(config.transport.host_maddrs, k),
                                                    "announce_maddrs": offset_ports(config.transport.announce_maddrs, k)})
    model = config.node.model.model_copy(update={"device": "cuda:0"})
    return config.model_copy(update={"node": config.node.model_copy(update={"model": model}), "transport": transport})


def offset_ports(maddrs: list[str], offset: int) -> list[str]:
    """Multiaddrs with every nonzero tcp/udp port raised by `offset`."""
    shifted = []
    for maddr in maddrs:
        parts = maddr.split("/")
        for i in range(1, len(parts) - 1):
            if parts[i] in ("tcp", "udp") and parts[i + 1].isdigit() and int(parts[i + 1]) > 0:
                parts[i + 1] = str(int(parts[i + 1]) + offset)
        shifted.append("/".join(parts))
    return shifted


def auto_model(config: RunConfig, folders: list[Path], gpus: list[int]) -> tuple[dict[str, Any], str]:
    """--model auto: (config overrides, the line that says why). The model a state folder already holds,
    else the largest preset that fits this device (`node.models.fit`; with --gpus the smallest GPU decides)."""
    from swarm.checks import state_model

    held = {m for f in folders if (m := state_model(f)) is not None}
    if len(held) == 1:
        name = held.pop()
        return {"node.model.name": name}, f"{name} (the model the state folder holds)"
    from node.models import fit

    devices = [f"cuda:{g}" for g in gpus] or [config.node.model.device]
    memory, kind = min(fit.device_memory(d) for d in devices)
    lora = config.node.model.lora
    choice = fit.pick_model(memory, kind, fit.round_shape(config.node, kind), force_lora=lora is not None)
    micro = choice.micro_batch if choice.micro_batch < config.node.algorithm.micro_batch else None
    picked = {"node.model.name": choice.name, "node.model.lora": {} if choice.lora and lora is None else None,
              "node.algorithm.micro_batch": micro}
    return picked, f"{choice.name}{' with LoRA' if choice.lora else ''}, {choice.reason}"


def _wait_all(children: dict[str, tuple[Child, Path]], started: float, console: Console) -> None:
    announced: set[str] = set()
    while any(child.returncode is None for child, _ in children.values()):
        for name, (child, folder) in children.items():
            info = read_node_info(folder, started) if name not in announced else None
            if info is not None:
                announced.add(name)
                console.print(f"{name}: peer {info['peer_id']} on " + " ".join(info.get("multiaddrs", [])))
        time.sleep(1.0)
