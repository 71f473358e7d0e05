"""Soak: does a swarm with the `swarm join` defaults keep its reward over thousands of rounds?

    python benchmarks/soak.py --quick          # CI: a real 3-node DHT testnet for a few rounds, then 3 nodes x 150
                                               # rounds in process (< 1 min on 2 cores)
    python benchmarks/soak.py                  # 3 nodes x 2,000 rounds x 3 seeds, in process (two runs at a time)
    python benchmarks/soak.py --one --seed 0 --rounds 1000 --nodes 1 --set node.algorithm.lr=1e-4 --log x.jsonl

What it measures, per node: reward (mean over its own completions) and policy entropy (mean -log p of its
own sampled tokens, `node.algorithms.base.sampled_entropy`) every round; its moving average over
`--window` rounds, the peak of that average and where the node ends against it. The run passes when no
node ends below 80% of its peak moving-average reward. The baseline in the same run is each node's own
peak (a collapse is a fall from it); the table also gives mean reward by eighths of the run.

The full soak runs in process: the real `Node` round loop (tasks, policy, verifier, signed records
through `MemoryTransport`'s sharded store and inbox, intake re-scoring, the sampler, GRPO, the collapse
guard) with the join config's node section. Only the DHT is replaced, and a clock puts round r in window
r: 2,000 rounds x 3 nodes x 3 seeds of real DHT processes would hold both shared cores for hours.
`--quick` also starts a real 3-node testnet on loopback (DHT, processes) for a few rounds, so the
join defaults are exercised over the real transport too.

Outputs: ``benchmarks/results/soak[.quick].json`` and ``soak[.quick].png`` (reward and entropy per node).
"""

from __future__ import annotations

import argparse
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "benchmarks" / "results"
JOIN_CONFIG = REPO / "configs" / "join.yaml"
WINDOW_S = 10.0
T0 = 1_700_000_000.0
PASS_FRACTION = 0.8
"""A node passes when its final moving-average reward is at least this share of its peak."""


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


KEPT = ("round", "reward_local", "entropy", "loss", "grad_norm", "lr", "external_groups", "local_groups",
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


# ------------------------------------------------------------------ statistics


def moving_average(xs: list[float], window: int) -> list[float]:
    """Trailing mean over `window` values (shorter at the start)."""
    out, total = [], 0.0
    for i, x in enumerate(xs):
        total += x
        if i >= window:
            total -= xs[i - window]
        out.append(total / min(i + 1, window))
    return out


def eighths(xs: list[float]) -> list[float]:
    n = len(xs)
    return [sum(xs[i * n // 8:(i + 1) * n // 8]) / max(1, (i + 1) * n // 8 - i * n // 8) for i in range(8)]


def node_summary(rewards: list[float], entropy: list[float | None], window: int) -> dict[str, Any]:
    ma = moving_average(rewards, window)
    full = ma[window - 1:] or ma
    peak = max(full)
    ent = [e for e in entropy if e is not None]
    return {"peak_ma": peak, "peak_round": ma.index(peak), "end_ma": ma[-1], "end_over_peak": ma[-1] / peak if peak else 1.0,
            "eighths": [round(x, 3) for x in eighths(rewards)],
            "entropy_eighths": [round(x, 3) for x in eighths(ent)] if len(ent) >= 8 else [],
            "passed": ma[-1] >= PASS_FRACTION * peak}


# ------------------------------------------------------------------ command line


def _one(args: argparse.Namespace) -> None:
    result = run_in_process(args.nodes, args.rounds, args.seed, args.set, Path(args.log) if args.log else None)
    result["summary"] = [node_summary(r, e, args.window) for r, e in zip(result["reward"], result["entropy"])]
    if args.out:
        Path(args.out).write_text(json.dumps(result))
    for k, s in enumerate(result["summary"]):
        print(f"node{k} seed {args.seed} {' '.join(args.set) or 'join defaults'}: eighths {s['eighths']} "
              f"entropy {s['entropy_eighths']} peak {s['peak_ma']:.3f}@{s['peak_round']} end {s['end_ma']:.3f} "
              f"({s['end_over_peak']:.2f}) cpu {result['cpu_s']:.0f}s wall {result['wall_s']:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI: a short real-DHT testnet plus 150 in-process rounds")
    parser.add_argument("--one", action="store_true", help="one in-process run (see --seed, --rounds, --nodes, --set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--window", type=int, default=100, help="rounds in the moving average")
    parser.add_argument("--set", action="append", default=[], help="config override, e.g. node.algorithm.lr=1e-4")
    parser.add_argument("--log", help="--one: append every node-round to this JSONL file")
    parser.add_argument("--out", help="--one: write the run's series and summary to this JSON file")
    args = parser.parse_args()
    if args.one:
        _one(args)


if __name__ == "__main__":
    main()
