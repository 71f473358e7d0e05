"""Soak: does a swarm with the `swarm join` defaults keep its reward over thousands of rounds?

    python benchmarks/soak.py --quick          # CI: 3 tiny nodes x 40 rounds in process (< 1 min on 2 cores)
    python benchmarks/soak.py --quick --dht    # ... plus a real 3-node DHT testnet with the join config, 10 rounds
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
`--dht` also starts a real 3-node testnet on loopback (DHT, processes) for a few rounds, so the join
defaults are exercised over the real transport too (tests/smoke covers it in CI).

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


# ------------------------------------------------------------------ the soak: seeds, table, plot


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


def table(results: list[dict]) -> str:
    lines = [f"{'seed':>4} {'node':>4}  {'reward by eighths of the run':48} {'peak MA':>8} {'@round':>6} "
             f"{'end MA':>7} {'end/peak':>8}  {'entropy first->last':>19}  rollbacks  pass"]
    for result in results:
        for k, s in enumerate(result["summary"]):
            ent = f"{s['entropy_eighths'][0]:.2f} -> {s['entropy_eighths'][-1]:.2f}" if s["entropy_eighths"] else "-"
            lines.append(f"{result['seed']:>4} {k:>4}  {' '.join(f'{x:.3f}' for x in s['eighths']):48} {s['peak_ma']:8.3f} "
                         f"{s['peak_round']:>6} {s['end_ma']:7.3f} {s['end_over_peak']:8.2f}  {ent:>19}  "
                         f"{len(result['rollbacks'][k]):>9}  {'yes' if s['passed'] else 'NO'}")
    return "\n".join(lines)


def plot(results: list[dict], window: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5 * len(results), 6), squeeze=False, sharex=True)
    for col, result in enumerate(results):
        for k, (rewards, entropy) in enumerate(zip(result["reward"], result["entropy"])):
            axes[0][col].plot(moving_average(rewards, window), label=f"node{k}")
            ent = [e if e is not None else float("nan") for e in entropy]
            axes[1][col].plot(moving_average([e for e in ent if e == e] or [0.0], window), label=f"node{k}")
            for r in result["rollbacks"][k]:
                axes[0][col].axvline(r, color="red", alpha=0.3, lw=0.8)
        axes[0][col].set_title(f"seed {result['seed']}: reward ({window}-round MA)")
        axes[1][col].set_title("entropy (-log p of own sampled tokens, MA)")
        axes[1][col].set_xlabel("round")
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(results: list[dict], args: argparse.Namespace, name: str) -> None:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {"nodes": len(results[0]["reward"]), "rounds": min(len(r) for res in results for r in res["reward"]),
              "seeds": [r["seed"] for r in results], "sets": args.set, "window": args.window,
              "config": str(JOIN_CONFIG.relative_to(REPO)), "pass_fraction": PASS_FRACTION,
              "passed": all(s["passed"] for r in results for s in r["summary"]),
              "runs": [{k: r[k] for k in ("seed", "summary", "rollbacks", "wall_s", "cpu_s")} for r in results]}
    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
    plot(results, args.window, out / f"{name}.png")
    print(f"wrote {out / (name + '.json')} and {out / (name + '.png')}")


def from_log(path: Path, window: int = 100) -> dict[str, Any]:
    """A seed's series rebuilt from its --logs file (runs go one seed per process when cores are scarce)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    nodes = sorted({r["node"] for r in rows})
    per = {k: [r for r in rows if r["node"] == k] for k in nodes}
    result = {"seed": int(path.stem.rsplit("-s", 1)[1]), "wall_s": None, "cpu_s": None,
              "reward": [[r["reward_local"] for r in per[k]] for k in nodes],
              "entropy": [[r["entropy"] for r in per[k]] for k in nodes],
              "rollbacks": [[r["round"] for r in per[k] if r.get("rollback")] for k in nodes]}
    result["summary"] = [node_summary(r, e, window) for r, e in zip(result["reward"], result["entropy"])]
    return result


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
    parser.add_argument("--quick", action="store_true", help="CI: 3 tiny nodes x 40 rounds in process (< 1 min)")
    parser.add_argument("--one", action="store_true", help="one in-process run (see --seed, --rounds, --nodes, --set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--window", type=int, default=100, help="rounds in the moving average")
    parser.add_argument("--set", action="append", default=[], help="config override, e.g. node.algorithm.lr=1e-4")
    parser.add_argument("--log", help="--one: append every node-round to this JSONL file")
    parser.add_argument("--out", help="--one: write the run's series and summary to this JSON file")
    parser.add_argument("--procs", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--logs", default="", help="folder for every node-round (soak-s<seed>.jsonl)")
    parser.add_argument("--dht", action="store_true", help="also run a short real 3-node testnet with the join config")
    parser.add_argument("--report", default="", help="rebuild table, JSON and plot from a --logs folder, run nothing")
    parser.add_argument("--out-dir", default=str(RESULTS), help="where the JSON and the plot go")
    args = parser.parse_args()
    if args.one:
        _one(args)
        return
    if args.quick:
        args.rounds, args.seeds, args.window = 40, [0], 10
        args.set = ["node.model.name=tiny-0.5m", *args.set]
    if args.report:
        results = [from_log(path) for path in sorted(Path(args.report).glob("soak-s*.jsonl"))]
        print(table(results))
        write(results, args, "soak")
        return
    if args.dht:
        dht_check(10, args.set)
    results = soak(args.seeds, args.nodes, args.rounds, args.set, args.window, args.procs, args.logs)
    print(table(results))
    write(results, args, "soak.quick" if args.quick else "soak")


if __name__ == "__main__":
    main()
