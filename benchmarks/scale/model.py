"""A model of a node's cost per round as a function of N, from per-operation costs measured at small N.

What a node does in one round (one window) is a list of operations whose counts follow from the
configuration and N; what each operation costs (bytes per RPC, values carried, CPU per RPC and per byte)
is measured at the calibration sizes (``calibrate_on``, by default 4 and 8 nodes) and held fixed. The
model is then checked against the measured sizes it was not fitted on (16 and 32).

Ours, per node per round: three DHT stores (the part, the parts index, the announcement), the gets of a
collect (2 announce keys: one shard, this window and the last; record keys only when pushes did not bring
J), ``min(F, N-1)`` pushes and as many direct part fetches, and the background (clock queries).
The reference: one store of the whole batch and one ``get(latest=True)`` of the round's key, which holds
N batches.

Assumptions (the DHT's behaviour, not measured beyond 32 nodes):

- **Lookup length.** A lookup (get, or a store's search for the nearest nodes) visits
  ``min(N-1, beam x H(N))`` nodes, one find RPC each, where H(N) is the number of beam rounds. Kademlia
  with buckets of k = 20 (hivemind's ``bucket_size``): each hop returns the k closest contacts the
  responder knows, about log2(k) bits closer to the key, so ``H(N) = max(1, log(N) / log(k))``
  (Maymounkov & Mazieres 2002, section 2.3; 3.1 rounds at 10,000 peers). The pessimistic variant
  assumes one bit per hop past the first bucket, ``H(N) = 1 + log2(max(1, N / k))`` (10 rounds at 10,000).
  Ours uses beam 5; the reference hivemind's default beam, ``bucket_size`` = 20.
- **Answers.** A find answer lists ``min(k, N-2)`` neighbours (fixed bytes each, fitted) and, from every
  visited node that holds the key, its whole value: for ours ``N / shards`` records or announcements (sized
  with N: records N/4 shards, announcements N/8), for the reference N batches. Holders are the
  ``R' = min(R, N-1)`` replicas, which a lookup visits, and the getters that cached the value (hivemind's
  ``cache_locally``, on in both patterns): they sit anywhere, so a lookup visits each with probability
  ``f/N``. A key read by g distinct nodes in a round thus answers a get from ``R' + (f - R') (g - 1) / (2 (N - 1))``
  nodes on average: for the reference (g = N) half of all it visits, for ours (g about 8) just the replicas.
  A store's lookup meets the batches stored before it: for the reference, publishers going in groups of 4
  (the benchmark's schedule), ``max(0, N - 4) / 2`` batches on each replica. The bytes per value entry
  per holder are fitted (they absorb how full a key is when it is read).
- **Replication.** A store goes to ``min(R, N-1)`` replicas, R = 5. Pushes and part fetches reach
  ``min(F, N-1)`` peers, F = 8 (the push fanout), whatever N is.
- **Symmetry.** Every RPC a node sends, another node serves: per node on average, served = sent, so
  bytes read = bytes written and the node's traffic is twice what its own operations send and receive.
- **CPU** = the idle rate of a window (measured) + a x RPCs + b x bytes, a and b fitted by least squares
  over the calibration node-rounds (python plus p2pd). The reference's answers grow with N (0.1 MB at 4
  nodes, 1 MB at 32) and a byte of a big answer costs less than one of a small one: its CPU is also given
  as the idle rate + its bytes x the CPU per byte measured at the largest N (``cpu_s_bytes_only``).
- **Configuration sized with N**: record shards N/4, announce shards N/8, one announce shard read per
  window; the peer table (256), push fanout (8), retries (32 per window), probes and reconnect pings
  (16 and 8 per round) do not depend on N.

    model = build_model(measured_rows, calibrate_on=[4, 8])
    model["predict"]["ours"]["10000"]["bytes"]
"""

from __future__ import annotations

import math
from typing import Any

K_BUCKET, REPLICAS, FANOUT = 20, 5, 8
BEAM = {"ours": 5, "reference": K_BUCKET}
GRID = [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 10_000]
CATEGORIES = ("records", "parts", "announcements", "pushes", "other", "reference")


def beam_rounds(n: float, pessimistic: bool = False) -> float:
    """H(N): beam rounds of a lookup (see the module docstring)."""
    if pessimistic:
        return 1.0 + math.log2(max(1.0, n / K_BUCKET))
    return max(1.0, math.log(n) / math.log(K_BUCKET))


def finds_per_lookup(n: float, pattern: str, pessimistic: bool = False) -> float:
    return min(n - 1, BEAM[pattern] * beam_rounds(n, pessimistic))


def neighbours(n: float) -> float:
    return min(K_BUCKET, n - 2)


def replicas(n: float) -> float:
    return min(REPLICAS, n - 1)


def per_key(n: float, category: str) -> float:
    """Entries one key holds: records N/(N/4 shards), announcements N/(N/8 shards), the reference's N batches."""
    return {"records": n / max(1, n // 4), "announcements": n / max(1, n // 8), "reference": n}.get(category, 0.0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _lstsq2(rows: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(a, b) >= 0 minimizing sum (y - a x1 - b x2)^2 over rows (y, x1, x2); one term dropped if its coefficient < 0."""
    s11 = sum(x1 * x1 for _, x1, _ in rows)
    s22 = sum(x2 * x2 for _, _, x2 in rows)
    s12 = sum(x1 * x2 for _, x1, x2 in rows)
    s1y = sum(x1 * y for y, x1, _ in rows)
    s2y = sum(x2 * y for y, _, x2 in rows)
    det = s11 * s22 - s12 * s12
    if det > 0:
        a, b = (s1y * s22 - s2y * s12) / det, (s2y * s11 - s1y * s12) / det
        if a >= 0 and b >= 0:
            return a, b
    a_only, b_only = (s1y / s11 if s11 else 0.0), (s2y / s22 if s22 else 0.0)
    err = lambda a, b: sum((y - a * x1 - b * x2) ** 2 for y, x1, x2 in rows)  # noqa: E731
    return (max(a_only, 0.0), 0.0) if err(max(a_only, 0.0), 0.0) <= err(0.0, max(b_only, 0.0)) else (0.0, max(b_only, 0.0))


def get_hits(n: float, f: float, getters: float) -> float:
    """Holders a get visits: the replicas, and the getters that cached the value (see the module docstring)."""
    r = min(replicas(n), f)
    return r + (f - r) * max(0.0, getters - 1) / (2 * (n - 1))


def value_entries(n: float, category: str, pattern: str, stores: float, gets: float, f: float) -> float:
    """Value entries (records, announcements, batches) that find answers carry per round, summed over holders."""
    held = per_key(n, category)
    if not held:
        return 0.0
    getters = n if pattern == "reference" else min(n, 8.0)
    store_entries = max(0.0, n - 4) / 2 if pattern == "reference" else held
    return stores * min(replicas(n), f) * store_entries + gets * get_hits(n, f, getters) * held


# ---------------------------------------------------------------- calibration


def calibrate(rows: list[dict[str, Any]], pattern: str) -> dict[str, Any]:
    """Per-operation costs of ``pattern`` from its measured rows at the calibration sizes."""
    cal: dict[str, Any] = {"sizes": sorted(r["n"] for r in rows), "categories": {}}
    fit_rows = []
    for r in rows:
        for row in r["by_category"].values():
            if row.get("find"):
                fit_rows.append((row.get("b_find", 0) - row.get("v_find", 0), row["find"], row.get("n_neighbours", 0)))
    cal["find_fixed_bytes"], cal["neighbour_bytes"] = _lstsq2(fit_rows)
    for c in {c for r in rows for c in r["by_category"]}:
        cal["categories"][c] = _calibrate_category(rows, c, pattern)
    cal["idle_cpu_s"] = _mean([r["idle_cpu_s_per_window"] for r in rows])
    node_rounds = [(cpu - r["idle_cpu_s_per_window"], rpcs, nbytes) for r in rows for cpu, rpcs, nbytes in r["node_rounds"]]
    cal["cpu_per_rpc_s"], cal["cpu_per_byte_s"] = _lstsq2(node_rounds)
    return cal


def _calibrate_category(rows: list[dict[str, Any]], c: str, pattern: str) -> dict[str, float]:
    """Counts per round normalized by their structural driver, and bytes per RPC, averaged over the calibration rows."""
    out: dict[str, list[float]] = {}
    add = lambda name, value: out.setdefault(name, []).append(value)  # noqa: E731
    for r in rows:
        n, row, values = r["n"], r["by_category"].get(c, {}), r["values"].get(c, {})
        f = finds_per_lookup(n, pattern)
        lookups = values.get("stores", 0) + values.get("gets", 0)
        add("stores", values.get("stores", 0))
        add("gets", values.get("gets", 0))
        add("finds_per_lookup_ratio", row.get("find", 0) / (lookups * f) if lookups else 0.0)
        add("store_rpcs_per_replica", row.get("store", 0) / (values.get("stores", 0) * replicas(n)) if values.get("stores") else 0.0)
        add("bytes_per_store_rpc", row.get("b_store", 0) / row["store"] if row.get("store") else 0.0)
        entries = value_entries(n, c, pattern, values.get("stores", 0), values.get("gets", 0), f)
        add("value_per_hit_entry", row.get("v_find", 0) / entries if entries else 0.0)
        for kind in ("push", "fetch"):
            add(f"{kind}_per_peer", row.get(kind, 0) / min(FANOUT, n - 1))
            add(f"bytes_per_{kind}", row.get(f"b_{kind}", 0) / row[kind] if row.get(kind) else 0.0)
        other_kinds = [k for k in row if k in ("clock", "ping", "other") or k.endswith("_failed")]
        add("other_rpcs_per_peer", sum(row.get(k, 0) for k in other_kinds) / min(8, n - 1))
        add("other_bytes_per_peer", sum(row.get(f"b_{k}", 0) for k in ("clock", "ping", "other")) / min(8, n - 1))
    return {name: _mean(v) for name, v in out.items()}


# ---------------------------------------------------------------- prediction


def predict(cal: dict[str, Any], n: float, pattern: str, pessimistic: bool = False) -> dict[str, Any]:
    """Per node per round at N: bytes (read + written), read, written, RPCs (sent + served), CPU, per category."""
    f = finds_per_lookup(n, pattern, pessimistic)
    find_bytes = cal["find_fixed_bytes"] + cal["neighbour_bytes"] * neighbours(n)
    cats = {}
    for c, k in cal["categories"].items():
        lookups = k["stores"] + k["gets"]
        finds = lookups * f * k["finds_per_lookup_ratio"]
        stores = k["stores"] * replicas(n) * k["store_rpcs_per_replica"]
        pushes, fetches = (k[f"{kind}_per_peer"] * min(FANOUT, n - 1) for kind in ("push", "fetch"))
        other = k["other_rpcs_per_peer"] * min(8, n - 1)
        value_in = value_entries(n, c, pattern, k["stores"], k["gets"], f) * k["value_per_hit_entry"]
        sent_bytes = (finds * find_bytes + value_in + k["stores"] * replicas(n) * k["store_rpcs_per_replica"] * k["bytes_per_store_rpc"]
                      + pushes * k["bytes_per_push"] + fetches * k["bytes_per_fetch"]
                      + k["other_bytes_per_peer"] * min(8, n - 1))
        cats[c] = {"rpcs": finds + stores + pushes + fetches + other, "finds": finds, "stores": stores, "bytes": sent_bytes}
    sent_rpcs = sum(v["rpcs"] for v in cats.values())
    sent_bytes = sum(v["bytes"] for v in cats.values())
    total_rpcs, total_bytes = 2 * sent_rpcs, 2 * sent_bytes  # served = sent, on average (symmetry)
    cpu = cal["idle_cpu_s"] + cal["cpu_per_rpc_s"] * total_rpcs + cal["cpu_per_byte_s"] * total_bytes
    return {"n": n, "bytes": total_bytes, "read": sent_bytes, "written": sent_bytes, "rpcs_sent": sent_rpcs,
            "rpcs": total_rpcs, "cpu_s": cpu, "finds_per_lookup": f, "by_category": cats, "hot_key": hot_key(cal, n, pattern, f)}


def hot_key(cal: dict[str, Any], n: float, pattern: str, f: float) -> dict[str, float]:
    """The most-read key: its readers per window, the bytes its holders serve them per window, and the find
    RPCs it gets over its life (its writers' and readers' lookups). Ours: an announce key, written by its
    N / (N/8) peers and read in two windows by N x 1 / (N/8) nodes each; the reference: the round's key,
    written and read by all N."""
    if pattern == "reference":
        entry = cal["categories"].get("reference", {}).get("bytes_per_store_rpc", 0.0)
        readers, held, reads = n, per_key(n, "reference"), n
    else:
        entry = cal.get("announcement_bytes", 340.0)
        readers, held = n / max(1, n // 8), per_key(n, "announcements")
        reads = 2 * readers
    hits = get_hits(n, f, n if pattern == "reference" else min(n, 8.0))
    return {"readers_per_window": readers, "entries": held, "bytes_served_per_window": readers * hits * held * entry,
            "finds_per_key": (held + reads) * f}


def _error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured if measured else float("nan")


def build_model(measured: list[dict[str, Any]], calibrate_on: list[int]) -> dict[str, Any]:
    """Calibrate per pattern, predict on the grid (both hop assumptions), and check the sizes not fitted on."""
    model: dict[str, Any] = {"assumptions": __doc__.split("Assumptions")[1].split("    model =")[0].strip(),
                             "calibrate_on": calibrate_on, "calibration": {}, "predict": {}, "pessimistic": {}, "check": []}
    for pattern in ("ours", "reference"):
        rows = [r for r in measured if r["pattern"] == pattern and r["n"] in calibrate_on]
        if not rows:
            continue
        cal = calibrate(rows, pattern)
        if pattern == "ours":
            ann = [r["values"].get("announcements", {}) for r in rows]
            cal["announcement_bytes"] = _mean([a.get("written", 0) / a["stores"] for a in ann if a.get("stores")])
        model["calibration"][pattern] = cal
        grid = sorted(set(GRID) | {r["n"] for r in measured})
        model["predict"][pattern] = {str(n): predict(cal, n, pattern) for n in grid}
        largest = max((r for r in measured if r["pattern"] == pattern), key=lambda r: r["n"])
        moved = largest["read"] + largest["written"]
        per_byte = (largest["cpu_s"] - largest["idle_cpu_s_per_window"]) / moved if moved else 0.0
        cal["cpu_per_byte_at_largest_s"] = {"n": largest["n"], "s_per_byte": per_byte}
        for p in model["predict"][pattern].values():  # the CPU a byte cost at the largest size measured (bigger answers are cheaper per byte)
            p["cpu_s_bytes_only"] = cal["idle_cpu_s"] + per_byte * p["bytes"]
        model["pessimistic"][pattern] = {str(n): predict(cal, n, pattern, pessimistic=True) for n in grid}
        for r in measured:
            if r["pattern"] == pattern and r["n"] not in calibrate_on:
                p = model["predict"][pattern][str(r["n"])]
                measured_bytes = r["read"] + r["written"]
                model["check"].append({
                    "pattern": pattern, "n": r["n"],
                    "bytes": [p["bytes"], measured_bytes, _error(p["bytes"], measured_bytes)],
                    "cpu_s": [p["cpu_s"], r["cpu_s"], _error(p["cpu_s"], r["cpu_s"])],
                    "rpcs": [p["rpcs"], r["rpcs_sent"] + r["rpcs_served"], _error(p["rpcs"], r["rpcs_sent"] + r["rpcs_served"])],
                    "hot_key_finds": [p["hot_key"]["finds_per_key"], r["hottest_key_finds"],
                                      _error(p["hot_key"]["finds_per_key"], r["hottest_key_finds"])],
                })
    return model
