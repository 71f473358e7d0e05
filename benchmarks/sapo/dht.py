"""One SAPO table configuration over the real hivemind DHT on loopback, to check the in-process
simulation: the same nodes (peer ids, question streams, generation and sampler seeds), one process
each, gossiping through `HivemindTransport` instead of `MemoryTransport`.

    python -m benchmarks.sapo --dht          # 4 nodes, sparse, 8/8 uniform, seeds 0-1

Nodes start each round together (a `multiprocessing.Barrier`), then run `Node.step` concurrently on
real DHT time, so whether a peer's batch of round r arrives in round r or r + 1 depends on timing
(the simulation fixes that order). Windows are long enough (60 s) that a node never hits the
per-window publish cap, and all records live in one shard so every collect reads every peer.
CPU-seconds are the node process's `Node.step` time (the DHT daemons' own CPU is not included).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from typing import Any

from benchmarks.sapo.sim import COMMON_QUESTIONS, RunSpec

WINDOW_S = 60.0


def dht_transport_config(initial_peers: list[str]):
    from swarm.transports.config import TransportConfig

    return TransportConfig(type="hivemind", swarm_id="sapo-table-dht", initial_peers=initial_peers, window_seconds=WINDOW_S,
                           num_shards=1, shards_per_collect=1, windows_per_collect=2, record_ttl_windows=3,
                           max_records_per_peer_per_window=64, inbox_size=1024, request_timeout_s=3.0,
                           startup_timeout_s=90.0)


async def _node_main(k: int, spec: RunSpec, initial_peers: list[str], barrier: Any, ready: Any) -> dict[str, Any]:
    import torch

    from benchmarks.sapo.sim import node_config, peer_identity
    from node.algorithms import build_algorithm
    from node.policy import Policy
    from node.rewards import build_reward_fn
    from node.round import Node
    from node.tasks import build_task_source
    from swarm.transports import build_transport

    torch.set_num_threads(1)
    identity = peer_identity(spec.seed, k)
    cfg = node_config(spec, k)
    cfg = cfg.model_copy(update={"round": cfg.round.model_copy(update={"collect_timeout_s": 5.0})})
    transport = build_transport(dht_transport_config(initial_peers), identity)
    await transport.start()
    ready.put((k, transport.visible_maddrs))
    policy = Policy.load(cfg.model, seed=cfg.model.build_seed, families=cfg.model.warm_start_families)
    node = Node(cfg, identity, policy, build_task_source(cfg.tasks), build_reward_fn(cfg.rewards),
                build_algorithm(cfg.algorithm, policy), transport, swarm_id="sapo-table-dht", window_seconds=WINDOW_S)
    out: dict[str, Any] = {"rewards": [], "common": [], "kept": [], "kept_local": [], "external_candidates": [], "cpu": []}
    try:
        for _ in range(spec.rounds):
            await asyncio.to_thread(barrier.wait, 300)
            start = time.process_time()
            row = await node.step()
            out["cpu"].append(time.process_time() - start)
            for key, field in (("rewards", "reward_local"), ("kept", "kept_groups"), ("kept_local", "local_groups"),
                               ("external_candidates", "external_candidates")):
                out[key].append(row[field])
            out["common"].append(sum(row["reward_by_question"][:COMMON_QUESTIONS]) / COMMON_QUESTIONS)
        out["rejections"] = dict(transport.rejections) | dict(node.intake_rejections)
        await asyncio.to_thread(barrier.wait, 300)  # nobody leaves while a peer may still read its records
    finally:
        await transport.stop()
    return out


def _worker(k: int, spec: RunSpec, initial_peers: list[str], barrier: Any, ready: Any, results: Any) -> None:
    try:
        results.put((k, asyncio.run(_node_main(k, spec, initial_peers, barrier, ready))))
    except BaseException as exc:  # reported to the parent, which fails the run loudly
        results.put((k, {"error": repr(exc)}))
        raise


def run_dht(spec: RunSpec, timeout_s: float = 1800.0) -> dict[str, Any]:
    """Run `spec` with one process per node over a loopback DHT; per-node rows like `RunResult`."""
    ctx = mp.get_context("spawn")
    barrier, ready, results = ctx.Barrier(spec.n_nodes), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(0, spec, [], barrier, ready, results))]
    procs[0].start()
    _, maddrs = ready.get(timeout=180)
    for k in range(1, spec.n_nodes):
        procs.append(ctx.Process(target=_worker, args=(k, spec, list(maddrs), barrier, ready, results)))
        procs[-1].start()
    start = time.time()
    try:
        rows = dict(results.get(timeout=timeout_s) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    errors = {k: r["error"] for k, r in rows.items() if "error" in r}
    if errors:
        raise RuntimeError(f"DHT run failed: {errors}")
    ordered = [rows[k] for k in range(spec.n_nodes)]
    merged = {key: [r[key] for r in ordered] for key in ("rewards", "common", "kept", "kept_local", "external_candidates", "cpu")}
    merged["local_i"] = [[spec.local_i] * spec.rounds for _ in ordered]
    merged["rejections"] = {}
    for r in ordered:
        for reason, n in r["rejections"].items():
            merged["rejections"][reason] = merged["rejections"].get(reason, 0) + n
    merged["cpu_s"] = float(sum(map(sum, merged["cpu"])))
    merged["wall_s"] = time.time() - start
    return merged
