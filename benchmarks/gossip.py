"""Gossip benchmark: the sharded transport against the reference pattern, in the same swarm and run.

    python benchmarks/gossip.py --quick          # N in {4, 8}, 5 KB and 100 KB, 3 rounds (< 2 min)
    python benchmarks/gossip.py                  # N in {4, 8, 16, 32}, 5 KB, 100 KB, 1 MB, 5 rounds

N node processes on loopback (real hivemind DHT, NAT/AutoNAT/relays off); all nodes start each round
together (the worst case). Per round each node runs, one after the other:
- reference (genrl 0.3.0's pattern): store its sealed batch under one key per round (subkey = peer
  id, expiration 600 s, default beam), sleep 1 s, one ``get(latest=True)``; a ``None`` is counted.
- sharded (ours): ``publish`` then ``collect`` every 50 ms until it holds J=4 (or N-1) batches of
  this round or 3 s passed; no fixed sleep.
Reported per pattern: publish and collect time, CPU s and DHT bytes read/written per node per round,
publish-to-visible latency p50/p99 (batch creation to the collect that returned it) and app bytes
per rollout received. Wall times are "N processes on 2 cores": on this host judge by CPU, bytes and
ratios (see /work/shared/baselines.md). Results go to benchmarks/results/gossip.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.swarm import node_proc  # noqa: E402
from tests.swarm.helpers import launch_swarm  # noqa: E402

J = 4
SIZES = {"5KB": 5_000, "100KB": 100_000, "1MB": 1_000_000}


# ---------------------------------------------------------------- node side


class CountingStore:
    """Wraps a `RecordStore` and counts application bytes written to and read from the DHT."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.read, self.written = inner, 0, 0

    def time(self) -> float:
        return self.inner.time()

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        self.written += len(value)
        return await self.inner.store(key, subkey, value, expiration)

    async def get(self, key: str, latest: bool = True) -> Any:
        found = await self.inner.get(key, latest)
        self.read += sum(len(v) for v, _ in found.values())
        return found


class BenchNode(node_proc.Node):
    def __init__(self, transport: Any) -> None:
        super().__init__(transport)
        self.counter = transport.store = CountingStore(transport.store)

    def _start(self) -> tuple[float, int, int]:
        return node_proc.cpu_s(), self.counter.read, self.counter.written

    def _done(self, start: tuple[float, int, int], **fields: Any) -> dict[str, Any]:
        cpu0, read0, written0 = start
        return {"cpu_s": node_proc.cpu_s() - cpu0, "read": self.counter.read - read0, "written": self.counter.written - written0, **fields}

    async def sharded(self, rnd: int, size: int, want: int) -> dict[str, Any]:
        start, batch_id = self._start(), f"s{rnd}"
        batch = node_proc.make_batch(self.t.identity, self.t.config.swarm_id, self.t.window(), batch_id, size)
        t0 = time.time()
        await self.t.publish(batch)
        t1, got = time.time(), {}
        while len(got) < want and time.time() < t1 + 3.0:
            for b in await self.t.collect(want):
                if b.batch_id == batch_id:
                    got[b.sender] = (time.time() - b.created_at, b.num_rollouts)
            if len(got) < want:
                await asyncio.sleep(0.05)
        return self._done(start, publish_s=t1 - t0, collect_s=time.time() - t1,
                          latencies=[v[0] for v in got.values()], rollouts=sum(v[1] for v in got.values()), empty=False)

    async def reference(self, rnd: int, size: int, want: int) -> dict[str, Any]:
        from hivemind.utils import get_dht_time

        start, key = self._start(), f"ref/{self.t.config.swarm_id}/{rnd}"
        batch = node_proc.make_batch(self.t.identity, self.t.config.swarm_id, self.t.window(), f"r{rnd}", size)
        value = node_proc.seal(batch, self.t.identity, self.t.secret)
        t0 = time.time()
        await self.t.node.store(key, value, get_dht_time() + 600, subkey=self.t.peer_id)
        self.counter.written += len(value)
        t1 = time.time()
        await asyncio.sleep(1.0)
        found = await self.t.node.get(key, latest=True)
        latencies, rollouts = [], 0
        items = found.value.items() if found is not None and isinstance(found.value, dict) else []
        for subkey, item in items:
            self.counter.read += len(item.value)
            verdict = self.t.inbox.verifier.verify(item.value, subkey=subkey)
            if verdict.accepted and subkey != self.t.peer_id:
                latencies.append(time.time() - verdict.message.created_at)
                rollouts += verdict.message.num_rollouts
        return self._done(start, publish_s=t1 - t0, collect_s=time.time() - t1, latencies=latencies,
                          rollouts=rollouts, empty=found is None)


# ---------------------------------------------------------------- driver side


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def summarize(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    lat = [x for r in rows for x in r["latencies"]]
    received = sum(r["rollouts"] for r in rows)
    return {
        "publish_p50_ms": 1000 * pct([r["publish_s"] for r in rows], 50),
        "collect_p50_ms": 1000 * pct([r["collect_s"] for r in rows], 50),
        "collect_p99_ms": 1000 * pct([r["collect_s"] for r in rows], 99),
        "visible_p50_ms": 1000 * pct(lat, 50),
        "visible_p99_ms": 1000 * pct(lat, 99),
        "cpu_s_per_node_round": statistics.mean(r["cpu_s"] for r in rows),
        "kib_read_per_node_round": statistics.mean(r["read"] for r in rows) / 1024,
        "kib_written_per_node_round": statistics.mean(r["written"] for r in rows) / 1024,
        "app_bytes_per_rollout": sum(r["read"] + r["written"] for r in rows) / max(received, 1),
        "rounds_short_of_J": sum(len(r["latencies"]) < min(J, n - 1) for r in rows),
        "rounds_get_none": sum(r["empty"] for r in rows),
        "node_rounds": len(rows),
    }


def run_round(nodes: list[Any], pattern: str, rnd: int, size: int) -> list[dict[str, Any]]:
    for node in nodes:
        node.send(pattern, rnd=rnd, size=size, want=min(J, len(nodes) - 1))
    return [node.read(timeout=120) for node in nodes]


def bench_n(n: int, sizes: list[str], rounds: int) -> list[dict[str, Any]]:
    config = dict(swarm_id=f"bench{n}", window_seconds=10.0, num_shards=max(1, n // 4), shards_per_collect=2,
                  windows_per_collect=2, record_ttl_windows=3, beam_size=5, startup_timeout_s=60.0,
                  max_records_per_peer_per_window=64)  # rounds here are far shorter than a window
    results = []
    t0 = time.time()
    with launch_swarm(n, script=Path(__file__), **config) as nodes:
        print(f"# N={n}: {n} processes up in {time.time() - t0:.1f} s", flush=True)
        time.sleep(1.0)
        for label in sizes:
            rows: dict[str, list[dict[str, Any]]] = {"reference": [], "sharded": []}
            for rnd in range(rounds):
                for pattern in rows:
                    rows[pattern] += run_round(nodes, pattern, rnd + 1000 * len(results), SIZES[label])
            for pattern, r in rows.items():
                results.append({"n": n, "batch": label, "pattern": pattern, **summarize(r, n)})
                print(format_row(results[-1]), flush=True)
    return results


COLUMNS = ["publish_p50_ms", "collect_p50_ms", "collect_p99_ms", "visible_p50_ms", "visible_p99_ms",
           "cpu_s_per_node_round", "kib_read_per_node_round", "kib_written_per_node_round", "app_bytes_per_rollout",
           "rounds_short_of_J", "rounds_get_none"]


def format_row(r: dict[str, Any]) -> str:
    cells = [f"{r[c]:.3f}" if "cpu" in c else f"{r[c]:.0f}" for c in COLUMNS]
    return "| " + " | ".join([str(r["n"]), r["batch"], r["pattern"], *cells]) + " |"


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """sharded / reference per (N, batch), and per-node cost of the largest N over the smallest."""
    by = {(r["n"], r["batch"], r["pattern"]): r for r in results}
    out = []
    for (n, batch, pattern), s in by.items():
        ref = by.get((n, batch, "reference"))
        if pattern == "sharded" and ref:
            out.append({"n": n, "batch": batch, **{f"{k}_sharded_over_ref": s[k] / ref[k] if ref[k] else float("nan")
                        for k in ("cpu_s_per_node_round", "kib_read_per_node_round", "collect_p50_ms")}})
    ns = sorted({r["n"] for r in results})
    for batch in sorted({r["batch"] for r in results}):
        for pattern in ("sharded", "reference"):
            lo, hi = by.get((ns[0], batch, pattern)), by.get((ns[-1], batch, pattern))
            if lo and hi and ns[-1] != ns[0]:
                out.append({"scale": f"N={ns[-1]} over N={ns[0]}", "batch": batch, "pattern": pattern,
                            "cpu": hi["cpu_s_per_node_round"] / lo["cpu_s_per_node_round"],
                            "kib_read": hi["kib_read_per_node_round"] / lo["kib_read_per_node_round"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N in {4, 8}, 5KB and 100KB, 3 rounds")
    parser.add_argument("--nodes", type=int, nargs="*", help="swarm sizes (default 4 8 16 32)")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), help="batch sizes (default all)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gossip.json")
    args = parser.parse_args()
    ns = args.nodes or ([4, 8] if args.quick else [4, 8, 16, 32])
    sizes = args.sizes or (["5KB", "100KB"] if args.quick else list(SIZES))
    rounds = args.rounds or (3 if args.quick else 5)
    print("| N | batch | pattern | " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * (3 + len(COLUMNS)))
    results = [row for n in ns for row in bench_n(n, sizes, rounds)]
    rat = ratios(results)
    for r in rat:
        print("# " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"host": "N processes on 2 cores (shared)", "rounds": rounds, "J": J, "time": time.time()}
    args.out.write_text(json.dumps({"meta": meta, "results": results, "ratios": rat}, indent=2))
    print(f"# wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1].startswith("{"):
        import logging
        import os

        logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
        asyncio.run(node_proc.main(BenchNode))
    else:
        main()
