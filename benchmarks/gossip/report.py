"""The gossip tables: per-round rows summarized per (N, batch, pattern), printed rows, and the ratios.

    rows = summarize(node_rounds, n)      # all at once
    print(format_row(rows))
    ratios(results)                       # sharded / reference per N, largest N / smallest N per pattern

A ratio whose baseline is 0 is refused (`ZeroBaseline`): every figure divided by here is a cost a
working pattern pays (time, CPU, bytes read), so a 0 means the run is broken (e.g. a reference that
read nothing), not that ours is infinitely better.
"""

from __future__ import annotations

import statistics
from typing import Any

J = 4
"""External batches each node wants per round (or N - 1 when fewer peers)."""


class ZeroBaseline(ValueError):
    """Raised by `ratio` when the figure it divides by is 0 or missing: the run that produced it is broken.

    Not raised for a pattern that was skipped on purpose (a row with ``"skipped"``): no ratio is formed."""


def ratio(num: float, den: float, what: str) -> float:
    """``num / den``; `ZeroBaseline` naming ``what`` when ``den`` is 0 or not a number."""
    if not den or den != den:
        raise ZeroBaseline(f"{what}: the baseline is {den!r}; a pattern that read or spent nothing did not run "
                           "(check rounds_get_none and the node logs) - refusing to divide by it")
    return num / den


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def summarize(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """All-at-once figures of one pattern over its node-rounds."""
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


def summarize_solo(rows: list[dict[str, Any]], n: int, batch: str, pattern: str, want: int) -> dict[str, Any]:
    """One-collector-at-a-time figures of one pattern over its collects. For the sharded pattern, bytes and CPU
    include the records pushed to the collector since its round began (``kib_pushed``, ``push_cpu``)."""
    cpu = [x["cpu_s"] + x["daemon_cpu_s"] for x in rows]
    return {"n": n, "batch": batch, "pattern": pattern, "mode": "one collector at a time",
            "collect_p50_ms": 1000 * pct([x["collect_s"] for x in rows], 50),
            "collect_p99_ms": 1000 * pct([x["collect_s"] for x in rows], 99),
            "cpu_ms_per_collect": 1000 * statistics.mean(cpu),
            "cpu_p50_ms_per_collect": 1000 * pct(cpu, 50),
            "daemon_cpu_ms_per_collect": 1000 * statistics.mean(x["daemon_cpu_s"] for x in rows),
            "kib_read_per_collect": statistics.mean(x["read"] for x in rows) / 1024,
            "kib_pushed_per_collect": statistics.mean(x.get("read_pushed", 0) for x in rows) / 1024,
            "push_cpu_ms_per_collect": 1000 * statistics.mean(x.get("push_cpu_s", 0.0) for x in rows),
            "collects_short_of_J": sum(x["got"] < want for x in rows), "collects": len(rows)}


COLUMNS = ["rss_max_mb", "publish_p50_ms", "collect_p50_ms", "collect_p99_ms", "visible_p50_ms", "visible_p99_ms",
           "cpu_s_per_node_round", "kib_read_per_node_round", "kib_written_per_node_round", "app_bytes_per_rollout",
           "rounds_short_of_J", "rounds_get_none"]
SOLO_COLUMNS = ["collect_p50_ms", "collect_p99_ms", "cpu_ms_per_collect", "cpu_p50_ms_per_collect", "daemon_cpu_ms_per_collect",
                "kib_read_per_collect", "collects_short_of_J"]


def format_row(r: dict[str, Any]) -> str:
    cells = [f"{r[c]:.3f}" if "cpu" in c else f"{r[c]:.0f}" for c in COLUMNS]
    return "| " + " | ".join([str(r["n"]), r["batch"], r["pattern"], *cells]) + " |"


def format_solo(r: dict[str, Any]) -> str:
    return "| " + " | ".join([str(r["n"]), r["batch"], r["pattern"], "solo", *(f"{r[c]:.0f}" for c in SOLO_COLUMNS)]) + " |"


SOLO_KEYS = ("collect_p50_ms", "cpu_ms_per_collect", "kib_read_per_collect")
ALL_KEYS = ("cpu_s_per_node_round", "kib_read_per_node_round", "collect_p50_ms")


def _pair_and_scale(results: list[dict[str, Any]], keys: tuple[str, ...], label: str) -> list[dict[str, Any]]:
    """Sharded over reference per (N, batch), and each pattern's largest N over its smallest."""
    by = {(r["n"], r["batch"], r["pattern"]): r for r in results}
    out = []
    for (n, batch, pattern), s in by.items():
        ref = by.get((n, batch, "reference"))
        if pattern == "sharded" and ref:
            out.append({label: "sharded over reference", "n": n, "batch": batch,
                        **{k: ratio(s[k], ref[k], f"{label} {k}, reference at N={n}, {batch}") for k in keys}})
    for batch in sorted({r["batch"] for r in results}):
        for pattern in ("sharded", "reference"):
            ns = sorted(n for (n, b, p) in by if b == batch and p == pattern)
            if len(ns) > 1:
                lo, hi = by[(ns[0], batch, pattern)], by[(ns[-1], batch, pattern)]
                out.append({label: f"N={ns[-1]} over N={ns[0]}", "batch": batch, "pattern": pattern,
                            **{k: ratio(hi[k], lo[k], f"{label} {k}, {pattern} at N={ns[0]}, {batch}") for k in keys}})
    return out


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ratio of a run: one collector at a time ("solo" rows), then all at once ("all" rows)."""
    solo = [r for r in results if r.get("mode") == "one collector at a time"]
    together = [r for r in results if r.get("mode") == "all at once" and "skipped" not in r]
    return _pair_and_scale(solo, SOLO_KEYS, "solo") + _pair_and_scale(together, ALL_KEYS, "all")


def format_ratio(r: dict[str, Any]) -> str:
    return "# " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())
