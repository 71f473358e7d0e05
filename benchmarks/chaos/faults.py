"""Chaos phases that break the swarm itself: T1 SIGKILL/restart churn, T2 partitions, T4 clock skew.

    row = t1_churn(swarm, 180, random.Random(0))
    row = t2_partition(swarm, 30, cycles=3)          # needs network namespaces (root)
    row = t4_skew(swarm, 60)
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from benchmarks.chaos.swarm import CONFIG, Swarm
from benchmarks.chaos.workload import Phase, delivery, rejections, request_all, run_phase


def t1_churn(swarm: Swarm, seconds: float, rng: random.Random) -> dict:
    phase = Phase("T1")
    pending: list[tuple[float, int]] = []

    def churn(k: int) -> None:
        now = time.time()
        for when, i in list(pending):
            if now >= when:
                pending.remove((when, i))
                swarm.start(i)
        if k % 12 == 5 and not pending:
            i = rng.randrange(1, swarm.n)
            swarm.kill(i)
            pending.append((now + rng.uniform(2.5, 5.0), i))  # back after at least one window

    run_phase(swarm, phase, seconds, on_cycle=churn)
    for _, i in pending:
        swarm.start(i)
    kills = sum(len(s.killed_at) for s in swarm.slots)
    return {**delivery(swarm, phase), "kills": kills}


def t2_partition(swarm: Swarm, seconds: float, cycles: int = 3, isolate_s: float | None = None) -> dict:
    """`cycles` times: split 4/4 with blackhole routes for `seconds`, heal, run `seconds`; then isolate one node
    for `isolate_s` (default 2 x seconds) and heal. Per split: delivery within each side; after each heal:
    delivery of new records, and of the split's last two windows across the sides within one window."""
    if swarm.net.fallback:
        return {"skipped": "blackhole routes need network namespaces"}
    half = swarm.n // 2
    splits = [t2_split(swarm, seconds, lambda i: i < half, f"T2split{c}") for c in range(cycles)]
    lone = swarm.n - 1
    isolated = t2_split(swarm, 2 * seconds if isolate_s is None else isolate_s, lambda i: i == lone, "T2isolate")
    out: dict[str, Any] = t2_summary(splits + [isolated])
    named = [(f"split{c + 1}", row) for c, row in enumerate(splits)] + [(f"isolate h{lone}", isolated)]
    for label, row in named:  # flat, so that `show` prints one line per measure
        out[f"{label} same side"] = row["during_split_same_side"]
        out[f"{label} across, last 2 w"] = row["across_sides_last_two_windows"]
        out[f"{label} after heal"] = row["after_heal"]
    out["split_s"], out["isolate_s"], out["cycles"] = seconds, isolated["seconds"], cycles
    return out


def t2_split(swarm: Swarm, seconds: float, side, name: str) -> dict:
    """One partition into side(i) True / False, then a healed phase as long; see t2_partition."""
    def routes(op: str) -> None:
        for a in range(swarm.n):
            for b in range(swarm.n):
                if side(a) != side(b):
                    swarm.net.ns_cmd(a, "ip", "route", op, "blackhole", f"{swarm.net.ip(b)}/32", check=False)

    routes("add")
    try:
        split = run_phase(swarm, Phase(name), seconds, drain_s=0.0)  # heal right after the last publish
    finally:
        routes("del")
    heal_t = time.time()
    healed = run_phase(swarm, Phase(name.replace("split", "heal").replace("isolate", "unisolate")), seconds)
    # A record of the split arriving after the heal is in healed.accepted: judge the split on both.
    seen = Phase(name, split.published, {**healed.accepted, **split.accepted}, split.rss, split.notes)
    window = CONFIG["window_seconds"]
    last_two = {key: pub for key, pub in split.published.items() if pub["t0"] >= heal_t - 2 * window}
    recent = Phase(name, last_two, seen.accepted, notes={"end": heal_t + window})
    within_window = delivery(swarm, recent, lambda a, b: side(a) != side(b))
    within_window["delivered_in_one_window"] = sum(
        1 for (i, sender, bid), t in seen.accepted.items()
        if t <= heal_t + window and (sender, bid) in last_two and side(i) != side(last_two[(sender, bid)]["slot"]))
    within_window["delivery_ratio_in_one_window"] = (round(within_window["delivered_in_one_window"] / within_window["expected_deliveries"], 4)
                                                     if within_window["expected_deliveries"] else None)
    return {"seconds": seconds,
            "during_split_same_side": delivery(swarm, seen, lambda a, b: side(a) == side(b)),
            "across_sides_last_two_windows": within_window,
            "after_heal": delivery(swarm, healed)}


def t2_summary(rows: list[dict]) -> dict:
    """The worst case over every split of T2: the figures its targets are judged on."""
    def worst(key: str, field_: str = "delivery_ratio") -> float | None:
        values = [r[key][field_] for r in rows if r[key].get(field_) is not None]
        return min(values) if values else None
    return {"worst_same_side": worst("during_split_same_side"), "worst_after_heal": worst("after_heal"),
            "worst_across_in_one_window": worst("across_sides_last_two_windows", "delivery_ratio_in_one_window"),
            "worst_across_by_end_of_heal": worst("across_sides_last_two_windows")}


T4_SKEWS: tuple[tuple[str, float, dict[str, str]], ...] = (
    ("+262 s", 262.0, {"SAPO_CLOCK_OFFSET": "262"}),
    ("-262 s", 262.0, {"SAPO_CLOCK_OFFSET": "-262"}),
    ("+-30 s every 5 s", 30.0, {"SAPO_CLOCK_SWING": "30:5"}),
    ("+45 s", 45.0, {"SAPO_CLOCK_OFFSET": "45"}),
)
"""(label, largest |skew| in seconds, environment) of the nodes T4 restarts with a skewed clock."""


def t4_skew(swarm: Swarm, seconds: float, skews: tuple[tuple[str, float, dict[str, str]], ...] = T4_SKEWS) -> dict:
    """The last len(skews) nodes restart with skewed clocks; the swarm clock corrects those within
    max_clock_skew_s (100% delivery from and to them expected) and every record of those beyond it is refused."""
    tolerance = float(swarm.config.get("max_clock_skew_s", 60.0))
    skewed = {swarm.n - 1 - k: skew for k, skew in enumerate(skews)}
    for i, (_, _, env) in skewed.items():
        swarm.kill(i)
        swarm.start(i, env=env)
    beyond = {i for i, (_, worst, _) in skewed.items() if worst > tolerance}
    before = rejections(swarm)
    clocks = request_all([(s, {}) for s in swarm.live()], "clock")
    phase = run_phase(swarm, Phase("T4"), seconds)
    after = rejections(swarm)
    ok = lambda a, b: a not in beyond and b not in beyond  # noqa: E731
    rej = {i: after[i] - before.get(i, Counter()) for i in after if i not in beyond}
    total = sum(rej.values(), Counter())
    outlier_ids = {sender for (sender, _), pub in phase.published.items() if pub["slot"] in beyond}
    published = sum(pub["slot"] in beyond for pub in phase.published.values())
    acked = sum(pub["slot"] in beyond and bool(pub.get("stored")) for pub in phase.published.values())
    accepted = sum(sender in outlier_ids for (_, sender, _) in phase.accepted)
    window_rej = {r: total.get(r, 0) for r in ("stale_window", "future_window", "wrong_window")}
    row = {
        "skews": {f"h{i}": label for i, (label, _, _) in skewed.items()}, "tolerance_s": tolerance,
        "window_s": CONFIG["window_seconds"],
        "clock_skew_estimates": {f"h{i}": (round(c["skew"], 2) + 0.0, "outlier" if c["outlier"] else "corrected" if c["corrected"] else "own")
                                 for i, c in sorted(clocks.items()) if "skew" in c},
        "within_tolerance": delivery(swarm, phase, ok),
        "from_skewed_within": delivery(swarm, phase, lambda a, b: ok(a, b) and a in skewed),
        "to_skewed_within": delivery(swarm, phase, lambda a, b: ok(a, b) and b in skewed),
        "beyond_tolerance": f"published {published} (stored {acked}), accepted by anyone {accepted}, "
                            f"rejected at nodes within tolerance {dict(window_rej)} (other reasons {dict(total - Counter(window_rej)) or 'none'})",
        "beyond_detail": {"published": published, "stored": acked, "accepted_by_anyone": accepted, "rejections_within": dict(total),
                          "per_node_window_rejections": {f"h{i}": sum(c.get(r, 0) for r in window_rej) for i, c in sorted(rej.items())}},
    }
    for i in skewed:  # back to true time for the following phases (after `delivery`, which skips restarted receivers)
        swarm.kill(i)
        swarm.start(i)
    return row
