"""T6, floods: 1-4 admitted keys send valid, maximum-size and junk records at 100x the honest rate;
memory, CPU, rejections and the receiving side's bounds per honest node, and a memory plot.

    row = t6_flood(swarm, 600, keys=4, baseline={})
    plot_t6_memory({"T6 K=4": row}, Path("t6_memory.png"))
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path

from benchmarks.chaos.swarm import ATTACKER_SCRIPT, Swarm, group_cpu_s, rss_mb
from benchmarks.common import shown
from benchmarks.chaos.workload import Phase, cycle, delivery, rejections, request_all, run_phase
from swarm.transports.config import TransportConfig


T6_RATE = 100.0
"""Records per second per attacker key: 100x the honest rate (one batch per node per cycle of ~1 s)."""
T6_SAMPLE_S = 5.0
T6_REASONS = ("over_quota", "too_large", "malformed", "schema", "duplicate")


def _mean_rss(samples: list[tuple[float, dict[int, float]]], i: int, start: float, end: float) -> float:
    """Mean of node i's RSS over the samples taken in [start, end] s (big records in flight make single samples noisy)."""
    xs = [s[1][i] for s in samples if start <= s[0] <= end and i in s[1]]
    return statistics.fmean(xs) if xs else float("nan")


def t6_flood(swarm: Swarm, seconds: float, keys: int, baseline: dict[int, float], rate: float = T6_RATE) -> dict:
    """`keys` admitted attacker keys, each in its own process (`tests/chaos/flood.py`), send `rate` records/s
    (small valid, max-size valid, junk: stored under their own slot subkeys and pushed to every honest peer)
    while the honest nodes run their workload. Per honest node: RSS (start, peak, growth over the last half,
    peak over `baseline`, which the first call fills with the RSS before its flood), CPU cores used, rejections
    by reason, pushes the attackers got answered, and the sizes of its queues and tables (node_proc ``stats``)."""
    attackers = [swarm.spawn_extra(swarm.n, swarm.config, seed, script=ATTACKER_SCRIPT) for seed in swarm.flood_seeds[:keys]]
    attacker_ids = {a.peer_id for a in attackers}
    try:
        for a in attackers:
            a.request("collect", timeout=30, max=0)  # announce, and read the honest announcements
        run_phase(swarm, Phase(f"T6warm{keys}"), 4.0, drain_s=0.0)
        live = swarm.live()
        rss0 = {s.index: rss_mb(s.node) for s in live}
        baseline.update({i: v for i, v in rss0.items() if i not in baseline})
        before, cpu0 = rejections(swarm), {s.index: group_cpu_s(s.node.pgid) for s in live}
        att_cpu0, t0 = sum(group_cpu_s(a.pgid) for a in attackers), time.time()
        started = [a.request("flood", timeout=30, rate=rate, tag=f"k{keys}a{j}", seed=j) for j, a in enumerate(attackers)]
        samples: list[tuple[float, dict[int, float]]] = []
        daemon_rss: list[dict[int, float]] = []  # the p2pd share of each sample
        table_max: Counter = Counter()

        def sample(k: int) -> None:
            if samples and time.time() - t0 - samples[-1][0] < T6_SAMPLE_S:
                return
            samples.append((time.time() - t0, {s.index: rss_mb(s.node) for s in swarm.live()}))
            daemon_rss.append({s.index: rss_mb(s.node, only="p2pd") for s in swarm.live()})
            for r in request_all([(s, {}) for s in swarm.live()], "stats").values():
                for name, size in r.get("bounds", {}).items():
                    table_max[name] = max(table_max[name], size)

        phase = run_phase(swarm, Phase(f"T6k{keys}"), seconds, drain_s=0.0, on_cycle=sample)
        sample(-1)
        floods = [a.request("flood_stop", timeout=60) for a in attackers]
        t1 = time.time()
        cpu1, att_cpu1 = {s.index: group_cpu_s(s.node.pgid) for s in swarm.live()}, sum(group_cpu_s(a.pgid) for a in attackers)
        t_drain, k = time.time() + 5.0, 10**6
        while time.time() < t_drain:  # the honest records of the last cycles, after the flood
            cycle(swarm, phase, k, publish=False)
            k += 1
            time.sleep(0.5)
        phase.notes["end"] = time.time()
        after = rejections(swarm)
        final = {i: r.get("bounds", {}) for i, r in request_all([(s, {}) for s in swarm.live()], "stats").items()}
    finally:
        for a in attackers:
            a.stop()
    honest = delivery(swarm, phase)
    wall = t1 - t0
    pushed = sum((Counter(f.get("pushed", {})) for f in floods), Counter())
    accepted_hostile = Counter(i for (i, sender, _) in phase.accepted if sender in attacker_ids)
    nodes, series = {}, {"t": [round(t, 1) for t, _ in samples]}
    for s in swarm.slots:
        i = s.index
        if i not in rss0 or i not in cpu1:
            continue
        peak = max(x[1].get(i, 0.0) for x in samples)
        mid, end = _mean_rss(samples, i, 0.4 * wall, 0.6 * wall), _mean_rss(samples, i, 0.8 * wall, wall)  # growth over the last half
        rej = after.get(i, Counter()) - before.get(i, Counter())
        nodes[f"h{i}"] = {
            "rss_start_mb": round(rss0[i], 1), "rss_peak_mb": round(peak, 1),
            "growth_last_half_pct": round(100 * (end / mid - 1), 1), "peak_over_baseline_mb": round(peak - baseline[i], 1),
            "cpu_cores": round((cpu1[i] - cpu0[i]) / wall, 2), "pushes_answered": pushed[s.node.peer_id],
            "hostile_accepted": accepted_hostile[i], **{r: rej[r] for r in T6_REASONS},
            "other": dict(Counter({r: c for r, c in rej.items() if r not in T6_REASONS})),
            "inbox_dropped_full": final.get(i, {}).get("inbox_dropped_full"),
        }
        series[f"h{i}"] = [round(x[1].get(i, float("nan")), 1) for x in samples]
        series[f"h{i} p2pd"] = [round(x.get(i, float("nan")), 1) for x in daemon_rss]
    n = nodes.values()
    sent = sum(f.get("sent", 0) for f in floods)
    verdicts = {
        "plateau (growth last half < 5%)": all(v["growth_last_half_pct"] < 5 for v in n),
        "peak < baseline + 256 MiB": all(v["peak_over_baseline_mb"] < 256 for v in n),
        "CPU < 1 core per node": all(v["cpu_cores"] < 1 for v in n),
        "honest delivery 100%": honest["delivery_ratio"] == 1.0,
        "over quota dropped and counted": all(v["over_quota"] > 0 for v in n),
        "inbox bounded": table_max["inbox_queued"] <= table_max["inbox_max"],
        "DHT storage within its budget": table_max["dht_storage_bytes"] <= swarm.config.get(
            "max_dht_storage_bytes", TransportConfig.model_fields["max_dht_storage_bytes"].default),
    }
    row = {
        **honest,
        "attack": f"{keys} admitted key(s), each its own process; target {rate:.0f} records/s/key, achieved "
                  + ", ".join(f"{f.get('rate_achieved')}" for f in floods) + " records/s/key "
                  + f"({sent} records: {dict(sum((Counter(f.get('built', {})) for f in floods), Counter()))}, "
                  + f"skipped while behind {sum(f.get('behind', 0) for f in floods)}; each stored once and pushed to "
                  + f"{max((f.get('targets', 0) for f in floods), default=0)} peers; pushes answered {sum(pushed.values())})",
        "attacker_cpu_cores": round((att_cpu1 - att_cpu0) / wall, 2),
        "flood_started": [s.get("peers") for s in started],
        "nodes": nodes, "table_max": dict(table_max),
        "verdicts": ", ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in verdicts.items()),
        "rss_series": series,
    }
    print(f"  T6 K={keys} {seconds:.0f} s: {row['attack']}; attacker CPU {row['attacker_cpu_cores']} cores", flush=True)
    print(f"  {'node':<5}{'RSS0':>7}{'peak':>7}{'grow%':>7}{'+base':>7}{'cores':>7}{'pushes':>8}{'acc':>5}"
          + "".join(f"{r[:10]:>11}" for r in T6_REASONS) + "  other")
    for name, v in nodes.items():
        print(f"  {name:<5}{v['rss_start_mb']:>7}{v['rss_peak_mb']:>7}{v['growth_last_half_pct']:>7}{v['peak_over_baseline_mb']:>7}"
              f"{v['cpu_cores']:>7}{v['pushes_answered']:>8}{v['hostile_accepted']:>5}" + "".join(f"{v[r]:>11}" for r in T6_REASONS)
              + f"  {v['other'] or ''}")
    print(f"  honest delivery {honest['delivery_ratio']} (p99 {honest['latency_p99_s']} s); max table sizes {dict(table_max)}\n"
          f"  {row['verdicts']}", flush=True)
    return row


def plot_t6_memory(rows: dict[str, dict], path: Path) -> str:
    """Honest RSS over time during each T6 run, one panel per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(6.5 * len(rows), 4.2), squeeze=False, sharey=True)
    for ax, (name, row) in zip(axes[0], rows.items()):
        s = row["rss_series"]
        for node, ys in s.items():
            if node != "t":  # the p2pd share dashed, below its node's total
                ax.plot(s["t"], ys, label=node, linewidth=1.2 if "p2pd" not in node else 0.8, linestyle="--" if "p2pd" in node else "-")
        ax.set_title(f"{name}\n{row['attack'][:60]}…", fontsize=9)
        ax.set_xlabel("seconds into the flood")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("RSS per honest node, node + p2pd (MiB; dashed: p2pd)")
    axes[0][-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return shown(path)
