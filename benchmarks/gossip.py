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
ratios (see ../shared/baselines.md). Results go to benchmarks/results/gossip.json.

"One collector at a time" (``--solo``, after the all-at-once rounds): every node publishes, then three
nodes collect in turn while the others only serve, so each pattern's own per-collect cost shows
without the host's saturation: collect time, CPU of the collecting node *including its p2pd daemon*,
and bytes read (DHT reads plus records pushed to it). This is how scale is judged (baselines.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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


def daemon_cpu_s(transport: Any) -> float:
    """CPU seconds of this node's p2pd daemon (a child process, so not in RUSAGE_SELF)."""
    child = getattr(transport.node.p2p, "_child", None)
    try:
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError, IndexError):
        return 0.0


def rss_mb() -> float:
    """Resident memory of this node process (the p2pd daemon not included)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


class BenchNode(node_proc.Node):
    def __init__(self, transport: Any) -> None:
        super().__init__(transport)
        self.counter = transport.store = CountingStore(transport.store)
        accept_pushed = transport.receiver.accept_pushed

        def counted(key: str, window: int, subkey: str, value: bytes, expiration: float, **kwargs: Any) -> bool:
            self.counter.read += len(value)  # a pushed record is read too, just not from the DHT
            return accept_pushed(key, window, subkey, value, expiration, **kwargs)

        transport.receiver.accept_pushed = counted
        if getattr(transport, "direct_parts", None) is not None:  # parts fetched from their publisher are read too
            fetch = transport.direct_parts.fetch

            async def counted_fetch(source: str, digests: Any) -> dict[str, bytes]:
                found = await fetch(source, digests)
                self.counter.read += sum(map(len, found.values()))
                return found

            transport.direct_parts.fetch = counted_fetch
        # Each benchmark round is its own time window, as a node's rounds are window-paced: records of
        # earlier rounds are then in closed windows, not re-read as if several rounds shared one window.
        self.round = 0
        transport.clock = lambda: (self.round + 0.5) * transport.config.window_seconds

    def _start(self) -> tuple[float, int, int]:
        return node_proc.cpu_s(), self.counter.read, self.counter.written

    def _done(self, start: tuple[float, int, int], **fields: Any) -> dict[str, Any]:
        cpu0, read0, written0 = start
        return {"cpu_s": node_proc.cpu_s() - cpu0, "read": self.counter.read - read0, "written": self.counter.written - written0,
                "rss_mb": rss_mb(), **fields}

    async def sharded(self, rnd: int, size: int, want: int) -> dict[str, Any]:
        self.round = rnd
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

    # one collector at a time: everyone publishes first, then collectors run alone

    async def publish_both(self, rnd: int, size: int, reference: bool = True) -> dict[str, Any]:
        from hivemind.utils import get_dht_time

        self.round = rnd

        batch = node_proc.make_batch(self.t.identity, self.t.config.swarm_id, self.t.window(), f"s{rnd}", size)
        await self.t.publish(batch)
        if not reference:
            return {}
        ref = node_proc.make_batch(self.t.identity, self.t.config.swarm_id, self.t.window(), f"r{rnd}", size)
        await self.t.node.store(f"ref/{self.t.config.swarm_id}/{rnd}", node_proc.seal(ref, self.t.identity, self.t.secret),
                                get_dht_time() + 600, subkey=self.t.peer_id)
        return {}

    async def solo(self, pattern: str, rnd: int, want: int) -> dict[str, Any]:
        self.round = rnd
        cpu0, daemon0, read0, t0 = node_proc.cpu_s(), daemon_cpu_s(self.t), self.counter.read, time.time()
        got = 0
        if pattern == "sharded":
            while got < want and time.time() < t0 + 3.0:
                got += len(await self.t.collect(want - got))  # any fresh verified batch serves the node
                if got < want:
                    await asyncio.sleep(0.02)
        else:
            found = await self.t.node.get(f"ref/{self.t.config.swarm_id}/{rnd}", latest=True)
            items = found.value.items() if found is not None and isinstance(found.value, dict) else []
            for subkey, item in items:
                self.counter.read += len(item.value)
                got += subkey != self.t.peer_id and self.t.inbox.verifier.verify(item.value, subkey=subkey).accepted
        return {"collect_s": time.time() - t0, "cpu_s": node_proc.cpu_s() - cpu0,
                "daemon_cpu_s": daemon_cpu_s(self.t) - daemon0, "read": self.counter.read - read0, "got": got}


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
        "rss_max_mb": max(r["rss_mb"] for r in rows),
    }


def run_round(nodes: list[Any], pattern: str, rnd: int, size: int) -> list[dict[str, Any]]:
    for node in nodes:
        node.send(pattern, rnd=rnd, size=size, want=min(J, len(nodes) - 1))
    return [node.read(timeout=120) for node in nodes]


def solo_rounds(nodes: list[Any], n: int, label: str, rounds: int, base: int, patterns: list[str]) -> list[dict[str, Any]]:
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
    out = []
    for pattern, r in rows.items():
        out.append({"n": n, "batch": label, "pattern": pattern, "mode": "one collector at a time",
                    "collect_p50_ms": 1000 * pct([x["collect_s"] for x in r], 50),
                    "collect_p99_ms": 1000 * pct([x["collect_s"] for x in r], 99),
                    "cpu_ms_per_collect": 1000 * statistics.mean(x["cpu_s"] + x["daemon_cpu_s"] for x in r),
                    "cpu_p50_ms_per_collect": 1000 * pct([x["cpu_s"] + x["daemon_cpu_s"] for x in r], 50),
                    "daemon_cpu_ms_per_collect": 1000 * statistics.mean(x["daemon_cpu_s"] for x in r),
                    "kib_read_per_collect": statistics.mean(x["read"] for x in r) / 1024,
                    "collects_short_of_J": sum(x["got"] < want for x in r), "collects": len(r)})
        print(format_solo(out[-1]), flush=True)
    return out


SOLO_COLUMNS = ["collect_p50_ms", "collect_p99_ms", "cpu_ms_per_collect", "cpu_p50_ms_per_collect", "daemon_cpu_ms_per_collect",
                "kib_read_per_collect", "collects_short_of_J"]


def format_solo(r: dict[str, Any]) -> str:
    return "| " + " | ".join([str(r["n"]), r["batch"], r["pattern"], "solo", *(f"{r[c]:.0f}" for c in SOLO_COLUMNS)]) + " |"


REFERENCE_MAX_KEY_BYTES = 8_000_000
REFERENCE_SKIP = ("one key holding N x 1 MB is beyond this host: at 8 nodes x 1 MB the reference's processes reached "
                  "2.1 GB RSS each (native memory of hivemind's merged 8 MB answers), at 16 nodes the kernel OOM-killed one")


def patterns_for(n: int, label: str) -> list[str]:
    """Both patterns, except the reference where its one key would hold more than ~8 MB."""
    return ["sharded", "reference"] if n * SIZES[label] <= REFERENCE_MAX_KEY_BYTES else ["sharded"]


def bench_n(n: int, sizes: list[str], rounds: int, solo: bool = False) -> list[dict[str, Any]]:
    config = dict(swarm_id=f"bench{n}", window_seconds=10.0, num_shards=max(1, n // 4), shards_per_collect=1,
                  windows_per_collect=2, record_ttl_windows=3, beam_size=5, startup_timeout_s=60.0,
                  max_records_per_peer_per_window=64)  # rounds here are far shorter than a window
    results = []
    t0 = time.time()
    with launch_swarm(n, script=Path(__file__), **config) as nodes:
        print(f"# N={n}: {n} processes up in {time.time() - t0:.1f} s", flush=True)
        time.sleep(1.0)
        for label in sizes:
            patterns = patterns_for(n, label)
            rows: dict[str, list[dict[str, Any]]] = {p: [] for p in patterns}
            for pattern in rows:  # sharded first: the reference's big merged values bloat the processes it runs in
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


COLUMNS = ["rss_max_mb", "publish_p50_ms", "collect_p50_ms", "collect_p99_ms", "visible_p50_ms", "visible_p99_ms",
           "cpu_s_per_node_round", "kib_read_per_node_round", "kib_written_per_node_round", "app_bytes_per_rollout",
           "rounds_short_of_J", "rounds_get_none"]


def format_row(r: dict[str, Any]) -> str:
    cells = [f"{r[c]:.3f}" if "cpu" in c else f"{r[c]:.0f}" for c in COLUMNS]
    return "| " + " | ".join([str(r["n"]), r["batch"], r["pattern"], *cells]) + " |"


def solo_ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One collector at a time: sharded / reference per N, and each pattern's largest N over smallest."""
    by = {(r["n"], r["batch"], r["pattern"]): r for r in results}
    keys = ("collect_p50_ms", "cpu_ms_per_collect", "kib_read_per_collect")
    out = []
    for (n, batch, pattern), s in by.items():
        ref = by.get((n, batch, "reference"))
        if pattern == "sharded" and ref:
            out.append({"solo": "sharded over reference", "n": n, "batch": batch,
                        **{k: s[k] / ref[k] if ref[k] else float("nan") for k in keys}})
    ns = sorted({r["n"] for r in results})
    for batch in sorted({r["batch"] for r in results}):
        for pattern in ("sharded", "reference"):
            lo, hi = by.get((ns[0], batch, pattern)) if ns else None, by.get((ns[-1], batch, pattern)) if ns else None
            if lo and hi and ns[-1] != ns[0]:
                out.append({"solo": f"N={ns[-1]} over N={ns[0]}", "batch": batch, "pattern": pattern,
                            **{k: hi[k] / lo[k] if lo[k] else float("nan") for k in keys}})
    return out


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """sharded / reference per (N, batch), and per-node cost of the largest N over the smallest."""
    out = [*solo_ratios([r for r in results if r.get("mode") == "one collector at a time"])]
    results = [r for r in results if r.get("mode") != "one collector at a time" and "skipped" not in r]
    by = {(r["n"], r["batch"], r["pattern"]): r for r in results}
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
    parser.add_argument("--solo", action="store_true", help="also measure one collector at a time (the scale figures)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gossip.json")
    args = parser.parse_args()
    ns = args.nodes or ([4, 8] if args.quick else [4, 8, 16, 32])
    sizes = args.sizes or (["5KB", "100KB"] if args.quick else list(SIZES))
    rounds = args.rounds or (3 if args.quick else 5)
    print("| N | batch | pattern | " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * (3 + len(COLUMNS)))
    if args.solo:
        print("| N | batch | pattern | solo | " + " | ".join(SOLO_COLUMNS) + " |  (rows marked solo)")
    meta = {"host": "N processes on 2 cores (shared)", "rounds": rounds, "J": J, "time": time.time(), "failed": []}
    results: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for n in ns:
        try:
            results += bench_n(n, sizes, rounds, args.solo)
        except RuntimeError as exc:  # a node died (e.g. killed by the host): say so, keep the other sizes
            meta["failed"].append(f"N={n}: {exc}")
            print(f"# N={n} FAILED: {exc}", flush=True)
        rat = ratios(results)
        args.out.write_text(json.dumps({"meta": meta, "results": results, "ratios": rat}, indent=2))  # after every N
    for r in rat:
        print("# " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    print(f"# wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1].startswith("{"):
        import logging

        logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
        asyncio.run(node_proc.main(BenchNode))
    else:
        main()
