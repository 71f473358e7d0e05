"""Measure one swarm of N node processes, one window per round, one collector at a time.

Per round (one time window of ``window_s``): every node publishes one batch (``publish_group`` at a time),
then every node collects in turn, alone (ours: until it holds min(J, N-1) fresh batches, pushed ones
included; the reference: its one get), then every node reports its counters. A round therefore holds one
publish and one collect per node, and all the serving (DHT replicas, push receivers, part servers) and
background work (clock, reconnect, routing table) of one window. Warm-up rounds fill the peer tables and
routing tables first; an idle window after them gives the background rate alone.

    rows = measure(Setup(n=8, pattern="ours", size=32_000, rounds=3), log_dir=Path("/tmp/logs"))
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.swarm.helpers import NodeProcess, launch_swarm

HERE = Path(__file__).resolve().parent
SCRIPTS = {"ours": HERE / "ours_node.py", "reference": HERE / "ref_node.py"}
J = 4


@dataclass(frozen=True)
class Setup:
    n: int
    pattern: str
    """"ours" or "reference"."""
    size: int = 32_000
    """Characters of completion text per batch (sealed: a little more)."""
    rounds: int = 3
    warmup: int = 2
    window_s: float = 10.0
    publish_group: int = 4


def swarm_config(setup: Setup) -> dict[str, Any]:
    """Ours: shards sized with N (records N/4, announcements N/8, one announce shard read per window), push and
    direct parts on. The reference uses only the p2p options."""
    n = setup.n
    if setup.pattern == "reference":
        return {"swarm_id": f"ref{n}", "startup_timeout_s": 60.0}
    return {"swarm_id": f"scale{n}", "window_seconds": setup.window_s, "num_shards": max(1, n // 4), "shards_per_collect": 1,
            "announce_shards": max(1, n // 8), "announce_reads_per_window": 1, "windows_per_collect": 2,
            "record_ttl_windows": 3, "beam_size": 5, "push_to_peers": True, "direct_parts": True, "startup_timeout_s": 60.0}


def _wait_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def _publish_all(nodes: list[NodeProcess], setup: Setup, batch_id: str) -> list[dict[str, Any]]:
    replies = []
    for start in range(0, len(nodes), setup.publish_group):
        group = nodes[start:start + setup.publish_group]
        for node in group:
            node.send("publish_round", batch_id=batch_id, size=setup.size)
        replies += [node.read(timeout=120) for node in group]
    return replies


def _collect_all(nodes: list[NodeProcess], setup: Setup, rnd: int, batch_id: str) -> list[dict[str, Any]]:
    want = min(J, setup.n - 1)
    order = nodes[rnd % len(nodes):] + nodes[:rnd % len(nodes)]
    extra = {"batch_id": batch_id} if setup.pattern == "reference" else {}
    return [node.request("collect_round", timeout=120, want=want, **extra) for node in order]


def _next_boundary(boundary: float, w: float) -> float:
    """The next window start; a round that overran starts at the window after now (unless now is early in one)."""
    now = time.time()
    return max(boundary + w, (math.floor(now / w) + (now % w > 0.3 * w)) * w)


def _run_rounds(nodes: list[NodeProcess], setup: Setup) -> dict[str, Any]:
    """Warm-up rounds, one idle window (background alone), the measured rounds. Every node reports its counters
    at each window start, so consecutive snapshots bound one round."""
    w = setup.window_s
    boundary = math.floor(time.time() / w) * w
    schedule = ["warmup"] * setup.warmup + ["idle"] + ["measured"] * setup.rounds
    snaps, rounds = [], []
    for rnd, kind in enumerate(schedule):
        boundary = _next_boundary(boundary, w)
        _wait_until(boundary + 0.2)
        snaps.append([node.request("snapshot") for node in nodes])
        t0, publishes, collects = time.time(), [], []
        if kind != "idle":
            publishes = _publish_all(nodes, setup, f"r{rnd}")
            collects = _collect_all(nodes, setup, rnd, f"r{rnd}")
        rounds.append({"round": rnd, "kind": kind, "start": t0, "busy_s": time.time() - t0, "publishes": publishes, "collects": collects})
    boundary = _next_boundary(boundary, w)
    _wait_until(boundary + 0.2)
    snaps.append([node.request("snapshot") for node in nodes])
    for rnd, nxt in zip(rounds, rounds[1:] + [{"start": boundary + 0.2}]):
        rnd["span_s"] = nxt["start"] - rnd["start"]
    return {"snaps": snaps, "rounds": rounds}


def measure(setup: Setup, log_dir: Path | None = None) -> dict[str, Any]:
    """Start the swarm (staggered: at most 3 nodes bootstrapping at once), run the rounds, stop it."""
    t0 = time.time()
    with launch_swarm(setup.n, stagger=3, log_dir=log_dir, script=SCRIPTS[setup.pattern], **swarm_config(setup)) as nodes:
        started = time.time() - t0
        run = _run_rounds(nodes, setup)
    return summarize(setup, run, started)


# ---------------------------------------------------------------- per node per round


def _diff(a: Any, b: Any) -> Any:
    """b - a, recursively over dicts of numbers (keys missing in a count from 0)."""
    if isinstance(b, dict):
        return {k: _diff(a.get(k, 0) if isinstance(a, dict) else 0, v) for k, v in b.items()}
    return b - a if isinstance(b, (int, float)) and isinstance(a, (int, float)) else b


def is_count(name: str) -> bool:
    """RPC counters, as opposed to byte counters (``b_*``, ``v_*``) and neighbour counts (``n_*``)."""
    return not name.startswith(("b_", "v_", "n_"))


def node_round(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One node's cost in one round: bytes read and written, RPCs sent by category, served, CPU."""
    d = _diff(before, after)
    sent, served = d.get("sent", {}), d.get("served", {})
    rpcs = lambda row: sum(v for k, v in row.items() if is_count(k))  # noqa: E731
    out = {
        "read": sum(r.get("b_in", 0) for r in sent.values()) + served.get("b_in", 0),
        "written": sum(r.get("b_out", 0) for r in sent.values()) + served.get("b_out", 0),
        "rpcs_sent": sum(rpcs(r) for r in sent.values()), "rpcs_served": rpcs(served),
        "served": served, "by_category": {c: {**row, "rpcs": rpcs(row), "bytes": row.get("b_out", 0) + row.get("b_in", 0)}
                                          for c, row in sent.items()},
        "values": d.get("values", {}),
        "cpu_python_s": d["cpu_python_s"], "cpu_p2pd_s": d["cpu_p2pd_s"], "cpu_s": d["cpu_python_s"] + d["cpu_p2pd_s"],
        "p2pd_socket_bytes": d["p2pd_read"], "served_finds": d.get("served_finds", {}),
    }
    for counter in ("pushed", "push_failures", "push_retries", "probes", "reconnect_pings"):
        if counter in after:
            out[counter] = d[counter]
    for level in ("peers", "peer_table", "routing_table"):
        if level in after:
            out[level] = after[level]
    return out


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.mean(r.get(key, 0) for r in rows) if rows else float("nan")


def _mean_nested(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Mean over rows of a dict of dicts (missing entries count as 0)."""
    names = {(a, b) for r in rows for a, sub in r.get(key, {}).items() for b in sub}
    out: dict[str, dict[str, float]] = {}
    for a, b in sorted(names):
        out.setdefault(a, {})[b] = statistics.mean(r.get(key, {}).get(a, {}).get(b, 0) for r in rows)
    return out


def key_names(setup: Setup, windows: list[int | None]) -> dict[str, str]:
    """DHT key id (hex, as replicas see it) -> category, for the keys the measured rounds used."""
    from hivemind.dht.routing import DHTID

    from benchmarks.scale.metering import key_category
    from protocol.keys import announce_key, record_key

    cfg = swarm_config(setup)
    keys = [f"ref/{cfg['swarm_id']}/r{r}" for r in range(setup.warmup + setup.rounds)]
    for w in {w for w in windows if w is not None}:
        keys += [announce_key(cfg["swarm_id"], w, s) for s in range(cfg.get("announce_shards", 1))]
        keys += [record_key(cfg["swarm_id"], w, s) for s in range(cfg.get("num_shards", 1))]
    return {DHTID.generate(source=key).to_bytes().hex(): key_category(key) for key in keys}


def hottest_by_category(setup: Setup, finds: dict[str, int], windows: list[int | None]) -> dict[str, int]:
    """The most finds any one key got (all replicas, over the measured rounds), per category; unnamed keys are parts."""
    names, out = key_names(setup, windows), {}
    for key_id, count in finds.items():
        cat = names.get(key_id, "parts")
        out[cat] = max(out.get(cat, 0), count)
    return out


def summarize(setup: Setup, run: dict[str, Any], started_s: float) -> dict[str, Any]:
    """Per node per round means over the measured rounds, the idle rate, the collects and the hottest key."""
    snaps, rounds = run["snaps"], run["rounds"]
    (idle_round,) = [i for i, r in enumerate(rounds) if r["kind"] == "idle"]
    idle_cpu = _mean([node_round(a, b) for a, b in zip(snaps[idle_round], snaps[idle_round + 1])], "cpu_s")
    measured = [i for i, r in enumerate(rounds) if r["kind"] == "measured"]
    rows = [node_round(a, b) for i in measured for a, b in zip(snaps[i], snaps[i + 1])]
    spans = [rounds[i]["span_s"] for i in measured]
    finds: dict[str, int] = {}
    for row in rows:
        for key_id, count in row.pop("served_finds").items():
            if count:
                finds[key_id] = finds.get(key_id, 0) + count
    collects = [c for i in measured for c in rounds[i]["collects"]]
    publishes = [p for i in measured for p in rounds[i]["publishes"]]
    want = min(J, setup.n - 1)
    summary = {
        **asdict(setup), "started_s": started_s, "round_span_s": statistics.mean(spans), "busy_s": statistics.mean(rounds[i]["busy_s"] for i in measured),
        "idle_cpu_s_per_window": idle_cpu * setup.window_s / rounds[idle_round]["span_s"],
        "read": _mean(rows, "read"), "written": _mean(rows, "written"), "cpu_s": _mean(rows, "cpu_s"),
        "cpu_python_s": _mean(rows, "cpu_python_s"), "cpu_p2pd_s": _mean(rows, "cpu_p2pd_s"),
        "p2pd_socket_bytes": _mean(rows, "p2pd_socket_bytes"), "rpcs_sent": _mean(rows, "rpcs_sent"),
        "rpcs_served": _mean(rows, "rpcs_served"), "by_category": _mean_nested(rows, "by_category"),
        "node_rounds": [[r["cpu_s"], r["rpcs_sent"] + r["rpcs_served"], r["read"] + r["written"]] for r in rows],
        "values": _mean_nested(rows, "values"), "served": {k: _mean([r["served"] for r in rows], k) for k in {k for r in rows for k in r["served"]}},
        "cpu_s_max_node": max(r["cpu_s"] for r in rows), "bytes_max_node": max(r["read"] + r["written"] for r in rows),
        "hottest_key_finds": max(finds.values(), default=0), "hottest_key_id": max(finds, key=finds.get, default=""),
        "keys_served": len(finds), "measured_rounds": len(measured),
        "collect_p50_ms": 1000 * statistics.median(c["s"] for c in collects),
        "collect_cpu_ms": 1000 * _mean(collects, "cpu_s"), "publish_p50_ms": 1000 * statistics.median(p["s"] for p in publishes),
        "publish_cpu_ms": 1000 * _mean(publishes, "cpu_s"), "collects_short_of_J": sum(c["got"] < want for c in collects),
        "collects": len(collects), "publishes_not_stored": sum(not p.get("stored", False) for p in publishes),
        "hottest_finds_by_category": hottest_by_category(setup, finds, [s.get("window") for snap in snaps for s in snap]),
    }
    for counter in ("pushed", "push_failures", "push_retries", "probes", "reconnect_pings", "peers", "peer_table", "routing_table"):
        if rows and counter in rows[0]:
            summary[counter] = _mean(rows, counter)
            summary[f"{counter}_max"] = max(r[counter] for r in rows)
    return summary
