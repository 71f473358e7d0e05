"""Learning under churn: real `swarm run` nodes (tiny models, real hivemind DHT) SIGKILLed and restarted.

    sudo python benchmarks/chaos_learning.py --quick     # 4 nodes, ~3 minutes per run, two runs
    sudo python benchmarks/chaos_learning.py             # 8 nodes, 10 minutes of churn

Issue 8, T1 with the real node instead of `benchmarks/chaos.py`'s transport-only processes. Each honest
node is `swarm run --config <yaml> --out <dir> --identity <pem>` (tiny-0.5m, I=4/J=4, L=8,
checkpoint every round) in its own network namespace (`chaos.Network`; loopback when not root, and the
table says so). Node 0 starts the swarm; every other node, and every restart, joins through the
multiaddrs of the nodes alive at that moment (their ``node.json``). Identities are derived from fixed
seeds, so both runs draw the same tasks and generation seeds:

  (a) baseline: N nodes for D seconds, no faults;
  (b) churn: the same, and every 20 s one random live node's whole process group (node and its p2pd)
      is SIGKILLed, then restarted 10 s later with the same identity and run folder.

D is counted from the moment every node has finished its first round; after D there are no more kills
and the run waits (at most 90 s) for the last restarted node's first round, outside the rates. Measured from each node's
``metrics.jsonl`` and process state: crashes of honest nodes (exits we did not cause, tracebacks in
logs); per restart, the round it resumed at vs the rounds it had completed before the kill (rounds of
learning lost) and the time to its first round after the restart (and whether that round already
received peers' rollouts); survivors' round rate vs baseline and their longest gap between rounds
(stall: > 30 s); rollouts exchanged per round (``external_received``, ``batches_received``); the mean
local reward per round of the honest nodes, churn vs baseline (cumulative reward ratio over the rounds
both runs reached). Writes benchmarks/results/chaos_learning.json and chaos_learning.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from chaos import Network, rss_mb  # noqa: E402
from node.metrics import read_metrics  # noqa: E402
from protocol import Identity  # noqa: E402
from swarm.config import RunConfig, load_config  # noqa: E402
from swarm.join import read_node_info  # noqa: E402
from swarm.procs import Child, child_env, cli_argv, group_members, spawn, stop_all  # noqa: E402
from swarm.testnet import warm_models, write_config  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "chaos_learning.json"
PLOT = REPO / "benchmarks" / "results" / "chaos_learning.png"
KILL_EVERY_S = 20.0
RESTART_AFTER_S = 10.0
STALL_S = 30.0
SECRET = "chaos-learning-secret"


def node_settings(n: int, window_s: float) -> dict[str, Any]:
    """Overrides on configs/testnet.yaml: every node tiny-0.5m, small rounds, a checkpoint every round."""
    return {
        "node.model.name": "tiny-0.5m", "node.model.threads": 1,
        "node.sampler.local_i": 4, "node.sampler.external_j": 4, "node.sampler.completions_l": 8,
        "node.round.rounds": 100_000, "node.round.checkpoint_every": 1, "node.round.collect_timeout_s": 1.0,
        "node.round.wait_for_peers": n - 1, "node.round.wait_for_peers_s": 90,
        "transport.swarm_id": "chaos-learning", "transport.window_seconds": window_s,
        "transport.swarm_secret": SECRET, "transport.startup_timeout_s": 60.0,
    }


def base_config(n: int, window_s: float) -> RunConfig:
    overrides = [f"{k}={json.dumps(v)}" for k, v in node_settings(n, window_s).items()]
    return load_config(REPO / "configs" / "testnet.yaml", overrides)


# ---------------------------------------------------------------- one node slot


@dataclass
class Restart:
    node: int
    killed_at: float
    completed_before_kill: int
    """Rounds in metrics.jsonl right after the kill (before the restart rewinds it)."""
    checkpoint_round: int | None
    restarted_at: float | None = None
    resumed_at_round: int | None = None
    up_s: float | None = None
    """Restart to node.json (transport joined, checkpoint restored)."""
    first_round_s: float | None = None
    first_round_batches: int | None = None
    first_round_external: int | None = None
    first_batches_s: float | None = None
    """Restart to the first round that received peers' batches: current again."""
    rss_before_kill_mb: float = 0.0

    @property
    def rounds_lost(self) -> int | None:
        return None if self.checkpoint_round is None else self.completed_before_kill - self.checkpoint_round


@dataclass
class Slot:
    index: int
    dir: Path
    identity: Identity
    child: Child | None = None
    started_at: float = 0.0
    killed: bool = False
    down: list[tuple[float, float]] = field(default_factory=list)
    """(kill time, first round after the restart) intervals: gaps inside them are not stalls."""
    exits: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.child is not None and self.child.returncode is None


class LearningSwarm:
    def __init__(self, net: Network, n: int, window_s: float, work: Path) -> None:
        self.net, self.n, self.work = net, n, work
        self.config = base_config(n, window_s)
        self.slots = [Slot(i, work / f"node{i}", Identity.from_seed(f"chaos-learning-h{i}".encode())) for i in range(n)]
        self.allowed = [s.identity.peer_id for s in self.slots]
        for slot in self.slots:
            slot.dir.mkdir(parents=True, exist_ok=True)
            slot.identity.save(slot.dir / "identity.pem")
        self.crashes: list[str] = []

    def node_config(self, i: int) -> RunConfig:
        data = self.config.model_dump(mode="json")
        data["transport"].update(host_maddrs=[f"/ip4/{self.net.ip(i)}/tcp/0"], initial_peers=self.initial_peers(i),
                                 allowed_peers=self.allowed)
        return RunConfig.model_validate(data)

    def initial_peers(self, exclude: int) -> list[str]:
        """Multiaddrs of the live nodes that wrote node.json since their (re)start."""
        out = []
        for s in self.slots:
            if s.index != exclude and s.alive and (info := read_node_info(s.dir, s.started_at)) is not None:
                out += info.get("multiaddrs", [])
        return out[:6]

    def start(self, i: int) -> None:
        slot = self.slots[i]
        config = write_config(self.node_config(i), slot.dir / "config.yaml")
        argv = [*self.net.prefix(i), *cli_argv("run", "--config", str(config), "--out", str(slot.dir),
                                              "--identity", str(slot.dir / "identity.pem"))]
        slot.started_at, slot.killed = time.time(), False
        slot.child = spawn(f"node{i}", argv, slot.dir / "node.log", child_env(1))

    def wait_up(self, indices: list[int], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(read_node_info(self.slots[i].dir, self.slots[i].started_at) for i in indices):
            self.check_exits()
            if time.monotonic() > deadline or any(not self.slots[i].alive for i in indices):
                raise RuntimeError(f"nodes {indices} did not come up; see {self.work}/node*/node.log")
            time.sleep(0.3)

    def start_all(self, group: int = 3) -> None:
        """Node 0 first (it starts the swarm), then the others in groups joining through the live ones."""
        self.start(0)
        self.wait_up([0])
        for first in range(1, self.n, group):
            indices = list(range(first, min(self.n, first + group)))
            for i in indices:
                self.start(i)
            self.wait_up(indices)

    def kill(self, i: int) -> Restart:
        """SIGKILL node i's whole group (node and p2pd), check it is gone, note what it had done."""
        slot = self.slots[i]
        rss = rss_mb(slot.child)
        slot.killed = True
        os.killpg(slot.child.pgid, signal.SIGKILL)
        slot.child.popen.wait(timeout=10)
        deadline = time.monotonic() + 10
        while group_members(slot.child.pgid) and time.monotonic() < deadline:
            time.sleep(0.1)  # the orphaned daemon is reaped by init
        if left := group_members(slot.child.pgid):
            self.crashes.append(f"node{i}: pids {left} survived SIGKILL of their group")
        killed_at = time.time()
        rows = metrics(slot.dir)
        slot.exits.append("killed")
        return Restart(i, killed_at, (max(r["round"] for r in rows) + 1) if rows else 0, checkpoint_round(slot.dir),
                       rss_before_kill_mb=round(rss, 1))

    def check_exits(self) -> None:
        """Any exit we did not cause is a crash."""
        for s in self.slots:
            if s.child is not None and not s.killed and s.child.returncode is not None:
                self.crashes.append(f"node{s.index} exited {s.child.returncode} at {time.time():.0f}")
                s.exits.append(f"exit {s.child.returncode}")
                s.killed = True  # counted once

    def stop(self) -> list[int]:
        for s in self.slots:
            s.killed = True
        return stop_all([s.child for s in self.slots if s.child is not None], grace_s=10.0)


def metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    return read_metrics(path) if path.exists() else []


def checkpoint_round(folder: Path) -> int | None:
    from node.checkpoint import load_checkpoint

    state = load_checkpoint(folder / "checkpoint")
    return None if state is None else int(state["round"])


def tracebacks(folder: Path) -> int:
    try:
        return (folder / "node.log").read_text(errors="replace").count("Traceback (most recent call last)")
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------- one run


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
            "t_round_mean_s": _mean([row.get("t_round") for row in rows]),
            "external_received_per_round": _mean([row.get("external_received") for row in rows]),
            "batches_received_per_round": _mean([row.get("batches_received") for row in rows]),
            "external_groups_per_round": _mean([row.get("external_groups") for row in rows]),
            "killed": len(s.down),
        }
    return out


def _mean(xs: list) -> float | None:
    xs = [x for x in xs if isinstance(x, (int, float))]
    return round(statistics.fmean(xs), 3) if xs else None


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


# ---------------------------------------------------------------- comparison, table, plot


def compare(base: dict, churn: dict) -> dict[str, Any]:
    b, c = base["reward_curve"], churn["reward_curve"]
    common = min(len(b), len(c))
    killed = {name for name, d in churn["nodes_detail"].items() if d["killed"]}
    survivors = [name for name in churn["nodes_detail"] if name not in killed]
    rate = lambda run, names: _mean([run["nodes_detail"][x]["rounds_per_min"] for x in names])  # noqa: E731
    gaps = [churn["nodes_detail"][x]["max_gap_s"] or 0 for x in churn["nodes_detail"]]
    lost = [r["rounds_lost"] for r in churn["restarts"] if r["rounds_lost"] is not None]
    return {
        "common_rounds": common,
        "cumulative_reward_baseline": round(sum(b[:common]), 3),
        "cumulative_reward_churn": round(sum(c[:common]), 3),
        "cumulative_reward_ratio": round(sum(c[:common]) / sum(b[:common]), 3) if common and sum(b[:common]) else None,
        "final_reward_baseline_last10": _mean(b[max(0, common - 10):common]),
        "final_reward_churn_last10": _mean(c[max(0, common - 10):common]),
        "rounds_lost_total": sum(lost), "rounds_lost_max": max(lost) if lost else None,
        "restarts": len(churn["restarts"]),
        "restarts_resumed": sum(r["resumed_at_round"] is not None for r in churn["restarts"]),
        "restarts_resumed_at_checkpoint": sum(bool(r["resumed_at_checkpoint"]) for r in churn["restarts"]),
        "first_round_after_restart_s_max": max((r["first_round_after_restart_s"] or 0 for r in churn["restarts"]), default=None),
        "first_batches_after_restart_s_max": max((r["first_batches_after_restart_s"] or 0 for r in churn["restarts"]), default=None),
        "survivors": survivors,
        "survivor_rounds_per_min_churn": rate(churn, survivors) if survivors else None,
        "survivor_rounds_per_min_baseline": rate(base, survivors) if survivors else None,
        "rounds_per_min_while_up_churn": _mean([d["rounds_per_min_up"] for d in churn["nodes_detail"].values()]),
        "all_rounds_per_min_churn": rate(churn, list(churn["nodes_detail"])),
        "all_rounds_per_min_baseline": rate(base, list(base["nodes_detail"])),
        "max_gap_s_churn": max(gaps) if gaps else None,
        "stall": any(g > STALL_S for g in gaps),
        "crashes": len(base["crashes"]) + len(churn["crashes"]),
    }


def moving_average(xs: list[float], k: int = 5) -> list[float]:
    return [statistics.fmean(xs[max(0, i - k + 1):i + 1]) for i in range(len(xs))]


def plot(base: dict, churn: dict, path: Path = PLOT) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for run, style in ((base, "-"), (churn, "--")):
        curve = run["reward_curve"]
        ax.plot(range(len(curve)), moving_average(curve), style, label=f"{run['run']} ({run['nodes']} nodes)")
    ax.set_xlabel("round")
    ax.set_ylabel("mean local reward (moving average, 5 rounds)")
    ax.set_title(f"Honest nodes' reward: SIGKILL every {KILL_EVERY_S:.0f} s vs no faults")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def show(results: dict) -> None:
    cmp_ = results.get("comparison", {})
    print(f"\nLearning under churn: {results['nodes']} real nodes, network: {results['network']}")
    print(f"{'run':<10}{'wall s':>8}{'rounds/min':>12}{'t_round s':>11}{'ext recv/rd':>13}{'batches/rd':>12}"
          f"{'max gap s':>11}{'crashes':>9}{'RSS peak MB':>13}")
    for run in results["runs"].values():
        d = run["nodes_detail"].values()
        print(f"{run['run']:<10}{run['wall_s']:>8}{_mean([x['rounds_per_min'] for x in d])!s:>12}"
              f"{_mean([x['t_round_mean_s'] for x in d])!s:>11}{_mean([x['external_received_per_round'] for x in d])!s:>13}"
              f"{_mean([x['batches_received_per_round'] for x in d])!s:>12}"
              f"{max((x['max_gap_s'] or 0) for x in d):>11}{len(run['crashes']):>9}{run['rss_peak_mb']:>13}")
    churn = results["runs"].get("churn")
    if churn:
        print(f"\n{'restart':<9}{'node':>5}{'done':>6}{'ckpt':>6}{'resumed':>9}{'lost':>6}{'up s':>7}{'1st round s':>13}"
              f"{'batches':>9}{'current s':>11}")
        for k, r in enumerate(churn["restarts"]):
            print(f"{k:<9}{r['node']:>5}{r['completed_before_kill']:>6}{r['checkpoint_round']!s:>6}"
                  f"{r['resumed_at_round']!s:>9}{r['rounds_lost']!s:>6}{r['up_after_restart_s']!s:>7}"
                  f"{r['first_round_after_restart_s']!s:>13}"
                  f"{r['first_round_batches_received']!s:>9}{r['first_batches_after_restart_s']!s:>11}")
    if cmp_:
        print()
        for key, value in cmp_.items():
            print(f"  {key}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 nodes, ~3 minutes per run")
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="measured duration of each run")
    parser.add_argument("--window", type=float, default=3.0, help="transport.window_seconds")
    parser.add_argument("--runs", default="baseline,churn")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results; the plot goes next to it (.png)")
    parser.add_argument("--loopback", action="store_true", help="no namespaces even as root (a quick local check)")
    args = parser.parse_args()
    n = args.nodes or (4 if args.quick else 8)
    seconds = args.seconds or (180.0 if args.quick else 600.0)
    work = Path(os.environ.get("CHAOS_LOG_DIR", "/tmp")) / f"sapo-chaos-learning-{os.getpid()}"
    net = Network(n)
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "nodes": n, "seconds": seconds,
                               "window_s": args.window, "kill_every_s": KILL_EVERY_S, "restart_after_s": RESTART_AFTER_S,
                               "settings": node_settings(n, args.window), "work_dir": str(work), "runs": {},
                               "time": time.time(), "load_avg_start": os.getloadavg()}
    t_start = time.time()
    try:
        if args.loopback:
            net.fallback = "loopback (--loopback)"
        elif os.geteuid() == 0:
            net.setup()
        else:
            net.fallback = "loopback (not root: no network namespaces)"
        results["network"] = net.fallback or "one namespace per node, veth to a bridge, 10.77.0.0/24"
        for name in args.runs.split(","):
            results["runs"][name] = run_once(name, net, n, seconds, args.window, work / name, churn=name == "churn", seed=0)
    finally:
        results["left_over_namespaces"] = net.teardown() if not net.fallback else []
        results.setdefault("network", net.fallback)
        results["wall_s"] = round(time.time() - t_start, 1)
        results["load_avg_end"] = os.getloadavg()
    if {"baseline", "churn"} <= set(results["runs"]):
        results["comparison"] = compare(results["runs"]["baseline"], results["runs"]["churn"])
        results["plot"] = plot(results["runs"]["baseline"], results["runs"]["churn"], args.out.with_suffix(".png"))
    show(results)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wall {results['wall_s']} s; namespaces left: {results['left_over_namespaces'] or 'none'}; "
          f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
