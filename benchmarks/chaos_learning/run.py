"""One run of the learning swarm, with or without churn, and what each node's metrics say about it.

    result = run_once("churn", net, n=4, seconds=180, window_s=3.0, work=Path("/tmp/w"), churn=True, seed=0)

D seconds are counted from the moment every node has finished its first round; with churn, every
`KILL_EVERY_S` one random running node's whole process group is SIGKILLed and restarted
`RESTART_AFTER_S` later. After D there are no more kills and the run waits (at most 90 s) for the last
restarted node's first round, outside the rates.
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.chaos.network import Network
from benchmarks.chaos.swarm import rss_mb
from benchmarks.chaos_learning.swarm import (KILL_EVERY_S, RESTART_AFTER_S, LearningSwarm, Restart, mean_of, metrics,
                                             tracebacks)
from swarm.join import read_node_info
from swarm.testnet import warm_models


def run_once(name: str, net: Network, n: int, seconds: float, window_s: float, work: Path, churn: bool,
             seed: int) -> dict[str, Any]:
    if work.exists():
        shutil.rmtree(work)
    swarm = LearningSwarm(net, n, window_s, work)
    rng = random.Random(seed)
    restarts: list[Restart] = []
    pending: Restart | None = None
    t0, rss_peak = time.time(), 0.0
    result: dict[str, Any] = {"run": name, "nodes": n, "seconds": seconds}
    try:
        warm_models([swarm.config], _Quiet())
        swarm.start_all()
        result["startup_s"] = round(time.time() - t0, 1)
        while not all(metrics(s.dir) for s in swarm.slots):  # every node past its first round
            swarm.check_exits()
            if time.time() - t0 > 300:
                raise RuntimeError("not every node finished a first round within 300 s")
            time.sleep(0.5)
        start = time.time()
        result["first_round_all_s"] = round(start - t0, 1)
        print(f"[{name}] {n} nodes up in {result['startup_s']} s, all past round 1 at {result['first_round_all_s']} s",
              flush=True)
        next_kill = start + KILL_EVERY_S
        while (now := time.time()) < start + seconds:
            swarm.check_exits()
            rss_peak = max([rss_peak] + [rss_mb(s.child) for s in swarm.slots if s.alive])
            if churn and pending is None and now >= next_kill:
                victim = rng.choice(_running(swarm) or [s.index for s in swarm.slots if s.alive])
                pending = swarm.kill(victim)
                restarts.append(pending)
                print(f"[{name}] t={now - start:.0f}s SIGKILL node{victim} (done {pending.completed_before_kill}, "
                      f"checkpoint {pending.checkpoint_round})", flush=True)
                next_kill += KILL_EVERY_S
            if pending is not None and pending.restarted_at is None and now >= pending.killed_at + RESTART_AFTER_S:
                swarm.start(pending.node)
                pending.restarted_at = time.time()
                pending = None
            _first_rounds(swarm, restarts)
            time.sleep(0.5)
        end = time.time()
        result["measured_s"] = round(end - start, 1)
        settle = end + 90.0  # no more kills; let the last restart come back so its resume is measured
        while any(r.resumed_at_round is None for r in restarts) and time.time() < settle:
            if pending is not None and time.time() >= pending.killed_at + RESTART_AFTER_S:
                swarm.start(pending.node)
                pending.restarted_at, pending = time.time(), None
            swarm.check_exits()
            _first_rounds(swarm, restarts)
            time.sleep(0.5)
        result["settle_s"] = round(time.time() - end, 1)
        result["window"] = (start, end)
    finally:
        result["leftover_pids"] = swarm.stop()
        result["wall_s"] = round(time.time() - t0, 1)
    result["rss_peak_mb"] = round(rss_peak, 1)
    for r in restarts:
        if r.resumed_at_round is not None:
            swarm.slots[r.node].down.append((r.killed_at, r.killed_at + RESTART_AFTER_S + (r.first_round_s or 0)))
        else:
            swarm.slots[r.node].down.append((r.killed_at, float("inf")))
    result["crashes"] = swarm.crashes
    result["tracebacks"] = {f"node{s.index}": tracebacks(s.dir) for s in swarm.slots if tracebacks(s.dir)}
    _first_batches(swarm, restarts)
    result["restarts"] = [_restart_row(r) for r in restarts]
    result["nodes_detail"] = _per_node(swarm, *result.pop("window"))
    result["reward_curve"] = _reward_curve(swarm)
    return result


def _running(swarm: LearningSwarm) -> list[int]:
    """Live nodes that finished a round since their (re)start: the victims (a node still starting would
    leave no resume to measure)."""
    return [s.index for s in swarm.slots if s.alive and any(row.get("time", 0) > s.started_at for row in metrics(s.dir))]


def _first_rounds(swarm: LearningSwarm, restarts: list[Restart]) -> None:
    """Fill in, for each restart, when its transport was up and the first metrics row written after it."""
    for r in restarts:
        if r.restarted_at is None or r.resumed_at_round is not None:
            continue
        if r.up_s is None and read_node_info(swarm.slots[r.node].dir, r.restarted_at) is not None:
            r.up_s = round((swarm.slots[r.node].dir / "node.json").stat().st_mtime - r.restarted_at, 1)
        after = [row for row in metrics(swarm.slots[r.node].dir) if row.get("time", 0) > r.restarted_at]
        if after:
            first = min(after, key=lambda row: row["time"])
            r.resumed_at_round = first["round"]
            r.first_round_s = round(first["time"] - r.restarted_at, 1)
            r.first_round_batches = first.get("batches_received")
            r.first_round_external = first.get("external_received")


def _first_batches(swarm: LearningSwarm, restarts: list[Restart]) -> None:
    """Time from each restart to the node's first round that received peers' batches (before its next kill)."""
    for k, r in enumerate(restarts):
        if r.restarted_at is None:
            continue
        until = min([x.killed_at for x in restarts[k + 1:] if x.node == r.node] or [float("inf")])
        hits = [row["time"] for row in metrics(swarm.slots[r.node].dir)
                if r.restarted_at < row.get("time", 0) < until and (row.get("batches_received") or 0) > 0]
        r.first_batches_s = round(min(hits) - r.restarted_at, 1) if hits else None


def _restart_row(r: Restart) -> dict[str, Any]:
    return {"node": r.node, "completed_before_kill": r.completed_before_kill, "checkpoint_round": r.checkpoint_round,
            "resumed_at_round": r.resumed_at_round, "rounds_lost": r.rounds_lost,
            "resumed_at_checkpoint": r.resumed_at_round == r.checkpoint_round if r.resumed_at_round is not None else None,
            "up_after_restart_s": r.up_s, "first_round_after_restart_s": r.first_round_s, "first_round_batches_received": r.first_round_batches,
            "first_round_external_received": r.first_round_external, "first_batches_after_restart_s": r.first_batches_s, "rss_before_kill_mb": r.rss_before_kill_mb}


def _per_node(swarm: LearningSwarm, start: float, end: float) -> dict[str, Any]:
    out = {}
    for s in swarm.slots:
        rows = sorted(metrics(s.dir), key=lambda row: row["time"])
        times = [row["time"] for row in rows if start <= row["time"] <= end]
        gaps = [b - a for a, b in zip([start] + times, times + [end])
                if not any(lo <= b and a <= hi for lo, hi in s.down)]  # a gap touching its own downtime is no stall
        down = sum(max(0.0, min(hi, end) - max(lo, start)) for lo, hi in s.down)
        out[f"node{s.index}"] = {
            "rounds_total": len(rows), "rounds_in_window": len(times),
            "rounds_per_min": round(60 * len(times) / (end - start), 2),
            "down_s": round(down, 1),
            "rounds_per_min_up": round(60 * len(times) / max(1.0, end - start - down), 2),
            "max_gap_s": round(max(gaps), 1) if gaps else None,
            "t_round_mean_s": mean_of([row.get("t_round") for row in rows]),
            "external_received_per_round": mean_of([row.get("external_received") for row in rows]),
            "batches_received_per_round": mean_of([row.get("batches_received") for row in rows]),
            "external_groups_per_round": mean_of([row.get("external_groups") for row in rows]),
            "killed": len(s.down),
        }
    return out


def _reward_curve(swarm: LearningSwarm) -> list[float]:
    """Mean local reward over the nodes at each round index, up to the round every node reached."""
    per_node = [{row["round"]: row["reward_local"] for row in metrics(s.dir)} for s in swarm.slots]
    common = min((max(d) + 1 if d else 0) for d in per_node)
    return [round(statistics.fmean(d[r] for d in per_node if r in d), 4) for r in range(common)]


class _Quiet:
    """A stand-in console for `warm_models` (no live status line in a benchmark log)."""

    def status(self, text: str):
        print(text, flush=True)
        return _Null()

    def print(self, *args, **kwargs) -> None:
        print(*args, flush=True)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None
