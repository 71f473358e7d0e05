"""One in-process soak swarm (the real node round loop; only the DHT replaced), seeds in parallel, and a short
real-DHT testnet with the join config.

    result = run_in_process(n_nodes=3, rounds=40, seed=0, sets=["node.model.name=tiny-0.5m"])
    result["reward"][0][:3]      # node 0's reward in its first three rounds
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO
from benchmarks.soak.stats import node_summary

JOIN_CONFIG = REPO / "configs" / "join.yaml"
WINDOW_S = 10.0
T0 = 1_700_000_000.0


# ------------------------------------------------------------------ one in-process run


def node_configs(n_nodes: int, rounds: int, seed: int, sets: list[str]) -> list[Any]:
    """The join config's node section, with `sets` applied, per node (own sampler seed), on one CPU thread."""
    from swarm.config import load_config

    base = [f"node.round.rounds={rounds}", f"node.round.seed={seed}", "node.round.checkpoint_every=0",
            "node.round.collect_timeout_s=30", "node.model.device=cpu", "node.model.threads=1"]
    configs = []
    for k in range(n_nodes):
        run = load_config(JOIN_CONFIG, base + list(sets) + [f"node.sampler.seed={1000 * seed + k}"])
        configs.append(run.node)
    return configs


class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def _transport_config(n_nodes: int) -> Any:
    from swarm.transports.config import TransportConfig

    return TransportConfig(type="memory", swarm_id="soak", window_seconds=WINDOW_S, num_shards=1, shards_per_collect=1,
                           windows_per_collect=2, record_ttl_windows=3, max_records_per_peer_per_window=4,
                           inbox_size=1024)


def _build(n_nodes: int, rounds: int, seed: int, sets: list[str], clock: _Clock, state_dir: Path) -> list[Any]:
    from node.algorithms import build_algorithm
    from node.policy import Policy
    from node.rewards import build_reward_fn
    from node.round import Node
    from node.tasks import build_task_source
    from protocol import Identity
    from swarm.transports import MemoryHub, build_transport

    hub, nodes = MemoryHub(clock), []
    for k, cfg in enumerate(node_configs(n_nodes, rounds, seed, sets)):
        identity = Identity.from_seed(f"soak-{seed}-{k}".encode())
        policy = Policy.load(cfg.model, seed=0, families=cfg.model.warm_start_families)
        transport = build_transport(_transport_config(n_nodes), identity, memory_hub=hub) if n_nodes > 1 else None
        if transport is not None:
            transport.rng = random.Random(f"soak-transport-{seed}-{k}")
        nodes.append(Node(cfg, identity, policy, build_task_source(cfg.tasks), build_reward_fn(cfg.rewards),
                          build_algorithm(cfg.algorithm, policy) if cfg.round.train else None, transport,
                          swarm_id="soak", window_seconds=WINDOW_S, checkpoint_dir=state_dir / f"node{k}"))
    return nodes


KEPT = ("round", "reward_local", "entropy", "kl", "loss", "grad_norm", "lr", "external_groups", "local_groups",
        "external_candidates", "t_round")


async def _run(n_nodes: int, rounds: int, seed: int, sets: list[str], log: Path | None) -> dict[str, list]:
    import torch

    torch.manual_seed(seed)
    clock = _Clock()
    with tempfile.TemporaryDirectory(prefix="soak-") as state:
        nodes = _build(n_nodes, rounds, seed, sets, clock, Path(state))
        for node in nodes:
            if node.transport is not None:
                await node.transport.start()
        series: dict[str, list] = {"reward": [[] for _ in nodes], "entropy": [[] for _ in nodes],
                                   "rollbacks": [[] for _ in nodes]}
        out = log.open("a") if log else None
        try:
            for r in range(rounds):
                clock.t = T0 + (r + 0.5) * WINDOW_S
                for k, node in enumerate(nodes):
                    row = await node.step()
                    series["reward"][k].append(float(row["reward_local"]))
                    series["entropy"][k].append(row.get("entropy"))
                    if row.get("rollback"):
                        series["rollbacks"][k].append(r)
                    if out is not None:
                        out.write(json.dumps({"node": k, **{key: row.get(key) for key in KEPT},
                                              "rollback": row.get("rollback")}) + "\n")
                if out is not None:
                    out.flush()
        finally:
            if out is not None:
                out.close()
            for node in nodes:
                if node.transport is not None:
                    await node.transport.stop()
    return series


def run_in_process(n_nodes: int, rounds: int, seed: int, sets: list[str], log: Path | None = None) -> dict[str, Any]:
    """One swarm of `n_nodes` real nodes (1: a silo node) for `rounds` rounds on one torch thread."""
    import logging

    import torch

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    torch.set_num_threads(1)
    start, cpu = time.time(), time.process_time()
    series = asyncio.run(_run(n_nodes, rounds, seed, sets, log))
    return {"nodes": n_nodes, "rounds": rounds, "seed": seed, "sets": list(sets), **series,
            "wall_s": time.time() - start, "cpu_s": time.process_time() - cpu}


# ------------------------------------------------------------------ seeds


def _soak_job(job: tuple[int, int, int, list[str], int, str]) -> dict[str, Any]:
    nodes, rounds, seed, sets, window, log_dir = job
    log = Path(log_dir) / f"soak-s{seed}.jsonl" if log_dir else None
    if log is not None:
        log.unlink(missing_ok=True)
    result = run_in_process(nodes, rounds, seed, sets, log)
    result["summary"] = [node_summary(r, e, window) for r, e in zip(result["reward"], result["entropy"])]
    return result


def soak(seeds: list[int], nodes: int, rounds: int, sets: list[str], window: int, procs: int, log_dir: str) -> list[dict]:
    """Every seed's in-process swarm, `procs` at a time (one torch thread each)."""
    jobs = [(nodes, rounds, seed, sets, window, log_dir) for seed in seeds]
    if procs <= 1 or len(jobs) == 1:
        return [_soak_job(job) for job in jobs]
    with mp.get_context("spawn").Pool(procs) as pool:
        return sorted(pool.map(_soak_job, jobs), key=lambda r: r["seed"])


def dht_check(rounds: int, sets: list[str]) -> None:
    """A real 3-node testnet (bootstrap peer, DHT, one process per node) with the join config's node section."""
    out = Path(tempfile.mkdtemp(prefix="soak-dht-")) / "run"
    argv = [sys.executable, "-m", "swarm.cli", "testnet", "--config", str(JOIN_CONFIG), "--nodes", "3", "--rounds", str(rounds),
            "--out", str(out), "--set", "transport.host_maddrs=[/ip4/127.0.0.1/tcp/0]", "--set", "transport.window_seconds=2",
            "--set", "testnet.stagger_s=0.2", "--set", "node.round.wait_for_peers=2", "--set", "node.model.device=cpu",
            *[x for s in sets for x in ("--set", s)]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    print(f"real DHT testnet, 3 nodes x {rounds} rounds: exit {done.returncode}, outcome {summary.get('outcome')}, "
          f"external groups used {summary.get('totals', {}).get('external_groups')} ({out})")
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:])
