"""Driving one swarm size: start N node processes and their reference DHT, run the rounds, summarize.

    rows = bench_n(4, ["5KB"], rounds=1, solo=True)

Sharded rounds run before reference rounds at each batch size: the reference's big merged values bloat
the processes they pass through.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.gossip.report import J, format_row, format_solo, summarize, summarize_solo
from tests.swarm.helpers import NodeProcess, launch_swarm

NODE_SCRIPT = Path(__file__).with_name("node.py")
SIZES = {"5KB": 5_000, "100KB": 100_000, "1MB": 1_000_000}
REFERENCE_MAX_KEY_BYTES = 8_000_000
REFERENCE_SKIP = ("one key holding N x 1 MB is beyond this host: at 8 nodes x 1 MB the reference's processes reached "
                  "2.1 GB RSS each (native memory of hivemind's merged 8 MB answers), at 16 nodes the kernel OOM-killed one")


def swarm_config(n: int) -> dict[str, Any]:
    """The transport settings of an N-node benchmark swarm (rounds here are far shorter than a window)."""
    return dict(swarm_id=f"bench{n}", window_seconds=10.0, num_shards=max(1, n // 4), shards_per_collect=1,
                windows_per_collect=2, record_ttl_windows=3, beam_size=5, startup_timeout_s=60.0,
                max_records_per_peer_per_window=64)


def patterns_for(n: int, label: str) -> list[str]:
    """Both patterns, except the reference where its one key would hold more than ~8 MB."""
    return ["sharded", "reference"] if n * SIZES[label] <= REFERENCE_MAX_KEY_BYTES else ["sharded"]


def start_reference(nodes: list[NodeProcess], stagger: int = 3) -> None:
    """Each node starts its reference DHT node; node 0's is the bootstrap, at most ``stagger`` join at once."""
    first = nodes[0].request("ref_start", timeout=60, initial_peers=[])["maddrs"]
    for start in range(1, len(nodes), stagger):
        group = nodes[start:start + stagger]
        for node in group:
            node.send("ref_start", initial_peers=first)
        for node in group:
            node.read(timeout=60)


def run_round(nodes: list[NodeProcess], pattern: str, rnd: int, size: int) -> list[dict[str, Any]]:
    """All at once: every node runs one round of ``pattern`` at the same time."""
    for node in nodes:
        node.send(pattern, rnd=rnd, size=size, want=min(J, len(nodes) - 1))
    return [node.read(timeout=120) for node in nodes]


def solo_rounds(nodes: list[NodeProcess], n: int, label: str, rounds: int, base: int, patterns: list[str]) -> list[dict[str, Any]]:
    """Every node publishes; then 3 collectors (a different trio each round) collect alone, in turn."""
    rows: dict[str, list[dict[str, Any]]] = {p: [] for p in patterns}
    want = min(J, n - 1)
    for rnd in range(base, base + rounds):
        for node in nodes:
            node.send("publish_both", rnd=rnd, size=SIZES[label], reference="reference" in patterns)
        for node in nodes:
            node.read(timeout=120)
        time.sleep(1.0)  # the reference's own wait; lets pushes and replicas settle for both
        for i in range(3):
            collector = nodes[(3 * (rnd - base) + i + 1) % n]
            for pattern in rows:
                rows[pattern].append(collector.request("solo", timeout=120, pattern=pattern, rnd=rnd, want=want))
    out = [summarize_solo(r, n, label, pattern, want) for pattern, r in rows.items()]
    for row in out:
        print(format_solo(row), flush=True)
    return out


def bench_n(n: int, sizes: list[str], rounds: int, solo: bool = False) -> list[dict[str, Any]]:
    """Every batch size at one swarm size N: all-at-once rounds, then (``solo``) one collector at a time."""
    results: list[dict[str, Any]] = []
    t0 = time.time()
    with launch_swarm(n, script=NODE_SCRIPT, **swarm_config(n)) as nodes:
        t1 = time.time()
        if any("reference" in patterns_for(n, label) for label in sizes):
            start_reference(nodes)
        print(f"# N={n}: {n} processes up in {t1 - t0:.1f} s, their reference DHT nodes in {time.time() - t1:.1f} s", flush=True)
        time.sleep(1.0)
        for label in sizes:
            patterns = patterns_for(n, label)
            rows: dict[str, list[dict[str, Any]]] = {p: [] for p in patterns}
            for pattern in rows:
                for rnd in range(rounds):
                    rows[pattern] += run_round(nodes, pattern, rnd + 1000 * len(results), SIZES[label])
            if "reference" not in patterns:
                print(f"| {n} | {label} | reference | SKIPPED: {REFERENCE_SKIP} |", flush=True)
                results.append({"n": n, "batch": label, "pattern": "reference", "mode": "all at once", "skipped": REFERENCE_SKIP})
            for pattern, r in rows.items():
                results.append({"n": n, "batch": label, "pattern": pattern, "mode": "all at once", **summarize(r, n)})
                print(format_row(results[-1]), flush=True)
            if solo:
                results += solo_rounds(nodes, n, label, rounds, base=1000 * len(results) + 500, patterns=patterns)
    return results
