"""The pre-registered controls table (issue 26) from its run log: complete tiers only, S against the best
control, hierarchical intervals over builds then seeds, and what every arm spends.

    report = controls_report(controls.controls_blocks(), RunLog(folder / "controls").load())
    print(report["text"])

A unit is one (build, seed). A seed's tier is complete when every arm of the block ran on every build
under that seed; only complete tiers are analysed, tiers cut short are listed (`tiers`). Every ratio is
paired within a unit (same build, same question seed) and summarised by
`stats.hierarchical_summary`. The primary comparison is S over the control of (a)-(c) with the highest
mean reward per CPU-second; the secondary is S over the one of (b) and (c) with the higher mean
cumulative reward (see the docstring of `benchmarks.sapo.controls`).
"""

from __future__ import annotations

from statistics import mean
from typing import Any, Callable

from benchmarks.sapo import controls
from benchmarks.sapo.controls import role
from benchmarks.sapo.grid import Block
from benchmarks.sapo.runs import spec_key
from benchmarks.sapo.stats import hierarchical_summary

Unit = tuple[int, int]
"""(build, question seed)."""
Row = dict[str, Any]
Metric = Callable[[Row], float]


def cum(row: Row) -> float:
    """Cumulative reward on the common questions, summed over nodes and rounds."""
    return float(sum(map(sum, row["common"])))


def per_cpu(row: Row) -> float:
    """The primary metric: cumulative reward per CPU-second of all nodes' `Node.step`."""
    return cum(row) / row["cpu_s"]


def cpu(row: Row) -> float:
    return float(row["cpu_s"])


def rows_by_label(block: Block, runs: dict[str, Row]) -> dict[str, dict[Unit, Row]]:
    """label -> (build, seed) -> logged run, for every run of `block` the log holds."""
    out: dict[str, dict[Unit, Row]] = {c.label: {} for c in block.configs}
    for seed in block.seeds:
        for build in block.builds:
            for config, spec in zip(block.configs, block.specs(seed, build)):
                row = runs.get(spec_key(spec))
                if row is not None:
                    out[config.label][(build, seed)] = row
    return out


def tiers(block: Block, by_label: dict[str, dict[Unit, Row]]) -> tuple[list[int], list[dict[str, Any]]]:
    """(seeds whose tier is complete, tiers cut short with how many of their runs finished)."""
    complete, cut = [], []
    per_tier = len(block.configs) * len(block.builds)
    for seed in block.seeds:
        done = sum((build, seed) in rows for rows in by_label.values() for build in block.builds)
        if done == per_tier:
            complete.append(seed)
        elif done:
            cut.append({"seed": seed, "runs_done": done, "runs_planned": per_tier})
    return complete, cut


def compare(a: dict[Unit, Row], b: dict[Unit, Row], units: list[Unit], metric: Metric) -> dict[str, Any] | None:
    """metric(a) / metric(b) per unit, with its hierarchical interval (None without a unit)."""
    ratios = {u: metric(a[u]) / metric(b[u]) for u in units if metric(b[u]) > 0}
    return hierarchical_summary(ratios) if ratios else None


def spend(rows: list[Row]) -> dict[str, Any]:
    """What an arm spends and trains on, averaged over its runs (per node where it is per node)."""
    flat = lambda key: [x for r in rows for node in r[key] for x in node]  # noqa: E731
    n_nodes, n_rounds = len(rows[0]["common"]), len(rows[0]["common"][0])
    kept, local, replayed = mean(flat("kept")), mean(flat("kept_local")), mean(flat("replayed"))
    ages = [a for a in flat("age_windows") if a is not None]
    return {"cumulative_reward": round(mean(map(cum, rows)), 2), "cpu_s": round(mean(map(cpu, rows)), 1),
            "cpu_s_per_node_round": round(mean(map(cpu, rows)) / (n_nodes * n_rounds), 4),
            "reward_per_cpu_s": round(mean(map(per_cpu, rows)), 4),
            "optimizer_steps_per_node": round(sum(k > 0 for k in flat("kept")) / (len(rows) * n_nodes), 1),
            "generated_per_round": round(mean(flat("local_i")), 2), "groups_per_update": round(kept, 2),
            "local_per_update": round(local, 2), "peers_per_update": round(kept - local - replayed, 2),
            "replayed_per_update": round(replayed, 2), "peer_age_windows": round(mean(ages), 2) if ages else None,
            "rounds": n_rounds, "curve": [round(mean(r["common"][k][t] for r in rows for k in range(n_nodes)), 4)
                                          for t in range(n_rounds)]}


def _best(labels: list[str], by_label: dict[str, dict[Unit, Row]], units: list[Unit], metric: Metric) -> str | None:
    return max(labels, key=lambda lb: mean(metric(by_label[lb][u]) for u in units), default=None)


def primary_analysis(block: Block, by_label: dict[str, dict[Unit, Row]], units: list[Unit]) -> dict[str, Any]:
    """S vs the best control per CPU-second, S vs the best compute-matched control per round, and the rest."""
    labels = [c.label for c in block.configs]
    sharing = next(lb for lb in labels if role(lb) == "S")
    controls = [lb for lb in labels if role(lb) in ("a", "b", "c")]
    best = _best(controls, by_label, units, per_cpu)
    matched = _best([lb for lb in controls if role(lb) in ("b", "c")], by_label, units, cum)
    s_rows = by_label[sharing]
    out: dict[str, Any] = {"sharing": sharing, "best_control": best, "best_compute_matched": matched,
                           "primary": compare(s_rows, by_label[best], units, per_cpu) if best else None,
                           "secondary": compare(s_rows, by_label[matched], units, cum) if matched else None}
    out["success"] = bool(out["primary"] and out["primary"]["ci95"][0] > 1.0)
    out["spends_vs_controls"] = {lb: {"cpu": compare(s_rows, by_label[lb], units, cpu)["mean"],
                                      "per_cpu": compare(s_rows, by_label[lb], units, per_cpu),
                                      "per_round": compare(s_rows, by_label[lb], units, cum)} for lb in controls}
    others = {lb: role(lb) for lb in labels if role(lb) in ("R", "d")}
    out["vs_sharing"] = {lb: {"role": r, "per_cpu": compare(by_label[lb], s_rows, units, per_cpu),
                              "per_round": compare(by_label[lb], s_rows, units, cum),
                              "cpu": compare(by_label[lb], s_rows, units, cpu)} for lb, r in others.items()}
    out["s_over_arm"] = {lb: {"per_cpu": compare(s_rows, by_label[lb], units, per_cpu),
                              "per_round": compare(s_rows, by_label[lb], units, cum)} for lb in labels if lb != sharing}
    out["matrix"] = {arm: {c: {"per_cpu": compare(by_label[arm], by_label[c], units, per_cpu),
                               "per_round": compare(by_label[arm], by_label[c], units, cum)}
                           for c in controls if c != arm} for arm in labels}
    return out


def block_report(block: Block, runs: dict[str, Row], primary: bool) -> dict[str, Any]:
    """One block's analysed units, tiers cut short, per-arm spending and comparisons."""
    by_label = rows_by_label(block, runs)
    complete, cut = tiers(block, by_label)
    units = [(build, seed) for seed in complete for build in block.builds]
    out: dict[str, Any] = {"name": block.name, "regime": block.regime.name, "n_nodes": block.n_nodes,
                           "rounds": block.rounds, "builds": list(block.builds), "seeds_planned": list(block.seeds),
                           "tiers_complete": complete, "tiers_cut_short": cut, "units": len(units), "note": block.note,
                           "hosts": tier_hosts(by_label, complete),
                           "arms": {}, "runs_of_tiers_cut_short": _cut_runs(by_label, {c["seed"] for c in cut})}
    if not units:
        return out
    base = block.configs[0].label
    for config in block.configs:
        rows = [by_label[config.label][u] for u in units]
        out["arms"][config.label] = {"role": role(config.label), **spend(rows),
                                     "per_cpu_vs_first": compare(by_label[config.label], by_label[base], units, per_cpu),
                                     "per_round_vs_first": compare(by_label[config.label], by_label[base], units, cum)}
    if primary:
        out["analysis"] = primary_analysis(block, by_label, units)
    return out


def tier_hosts(by_label: dict[str, dict[Unit, Row]], seeds: list[int]) -> dict[str, list[str]]:
    """Per complete tier, the hosts its runs logged ("not recorded" for rows logged before runs carried one).
    CPU-seconds differ between hosts, so a tier listing two hosts may hold a unit whose arms ran apart."""
    return {str(seed): sorted({row.get("host", "not recorded") for rows in by_label.values()
                               for (_, s), row in rows.items() if s == seed}) for seed in seeds}


def _cut_runs(by_label: dict[str, dict[Unit, Row]], seeds: set[int]) -> list[dict[str, Any]]:
    """The finished runs of tiers cut short, as logged (listed, never analysed: no ratio is formed)."""
    return [{"label": lb, "build": build, "seed": seed, "cumulative_reward": round(cum(row), 2),
             "cpu_s": round(cpu(row), 1)} for lb, rows in by_label.items() for (build, seed), row in sorted(rows.items())
            if seed in seeds]


def controls_report(blocks: list[Block], runs: dict[str, Row]) -> dict[str, Any]:
    """The first block is the primary one (S against its controls); the others are reported against their first arm."""
    return {"blocks": [block_report(b, runs, primary=i == 0) for i, b in enumerate(blocks)],
            "runs_in_log": len(runs), "cpu_matched_i": controls.CPU_MATCHED_I, "calibration": controls.CALIBRATION}


def pilot_figures(block: Block, runs: dict[str, Row]) -> dict[str, Any]:
    """CPU-seconds per node-round of every pilot arm that ran (unrounded: the calibration rule's inputs)."""
    by_label = rows_by_label(block, runs)
    return {lb: mean(r["cpu_s"] / (len(r["cpu"]) * len(r["cpu"][0])) for r in rows.values())
            for lb, rows in by_label.items() if rows}


__all__ = ["block_report", "compare", "controls_report", "pilot_figures", "rows_by_label", "spend", "tiers"]
