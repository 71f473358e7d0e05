"""Learning under churn against no faults: the comparison, the printed tables and the reward plot.

    results["comparison"] = compare(results["runs"]["baseline"], results["runs"]["churn"])
    show(results)
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.chaos_learning.swarm import KILL_EVERY_S, STALL_S, mean_of
from benchmarks.common import shown


def compare(base: dict, churn: dict) -> dict[str, Any]:
    b, c = base["reward_curve"], churn["reward_curve"]
    common = min(len(b), len(c))
    killed = {name for name, d in churn["nodes_detail"].items() if d["killed"]}
    survivors = [name for name in churn["nodes_detail"] if name not in killed]
    rate = lambda run, names: mean_of([run["nodes_detail"][x]["rounds_per_min"] for x in names])  # noqa: E731
    gaps = [churn["nodes_detail"][x]["max_gap_s"] or 0 for x in churn["nodes_detail"]]
    lost = [r["rounds_lost"] for r in churn["restarts"] if r["rounds_lost"] is not None]
    return {
        "common_rounds": common,
        "cumulative_reward_baseline": round(sum(b[:common]), 3),
        "cumulative_reward_churn": round(sum(c[:common]), 3),
        "cumulative_reward_ratio": round(sum(c[:common]) / sum(b[:common]), 3) if common and sum(b[:common]) else None,
        "final_reward_baseline_last10": mean_of(b[max(0, common - 10):common]),
        "final_reward_churn_last10": mean_of(c[max(0, common - 10):common]),
        "rounds_lost_total": sum(lost), "rounds_lost_max": max(lost) if lost else None,
        "restarts": len(churn["restarts"]),
        "restarts_resumed": sum(r["resumed_at_round"] is not None for r in churn["restarts"]),
        "restarts_resumed_at_checkpoint": sum(bool(r["resumed_at_checkpoint"]) for r in churn["restarts"]),
        "first_round_after_restart_s_max": max((r["first_round_after_restart_s"] or 0 for r in churn["restarts"]), default=None),
        "first_batches_after_restart_s_max": max((r["first_batches_after_restart_s"] or 0 for r in churn["restarts"]), default=None),
        "survivors": survivors,
        "survivor_rounds_per_min_churn": rate(churn, survivors) if survivors else None,
        "survivor_rounds_per_min_baseline": rate(base, survivors) if survivors else None,
        "rounds_per_min_while_up_churn": mean_of([d["rounds_per_min_up"] for d in churn["nodes_detail"].values()]),
        "all_rounds_per_min_churn": rate(churn, list(churn["nodes_detail"])),
        "all_rounds_per_min_baseline": rate(base, list(base["nodes_detail"])),
        "max_gap_s_churn": max(gaps) if gaps else None,
        "stall": any(g > STALL_S for g in gaps),
        "crashes": len(base["crashes"]) + len(churn["crashes"]),
    }


def moving_average(xs: list[float], k: int = 5) -> list[float]:
    return [statistics.fmean(xs[max(0, i - k + 1):i + 1]) for i in range(len(xs))]


def plot(base: dict, churn: dict, path: Path) -> str:
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
    return shown(path)


def show(results: dict) -> None:
    cmp_ = results.get("comparison", {})
    print(f"\nLearning under churn: {results['nodes']} real nodes, network: {results['network']}")
    print(f"{'run':<10}{'wall s':>8}{'rounds/min':>12}{'t_round s':>11}{'ext recv/rd':>13}{'batches/rd':>12}"
          f"{'max gap s':>11}{'crashes':>9}{'RSS peak MB':>13}")
    for run in results["runs"].values():
        d = run["nodes_detail"].values()
        print(f"{run['run']:<10}{run['wall_s']:>8}{mean_of([x['rounds_per_min'] for x in d])!s:>12}"
              f"{mean_of([x['t_round_mean_s'] for x in d])!s:>11}{mean_of([x['external_received_per_round'] for x in d])!s:>13}"
              f"{mean_of([x['batches_received_per_round'] for x in d])!s:>12}"
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
