"""Turn finished SAPO runs into the table, the JSON and the moving-average plot.

    report = build_report(blocks, runs)          # runs: spec key -> run row (see sapo_table._run_one)
    print(write_outputs(report, blocks, runs, json_path, png_path))

Per block, every configuration is compared with its first one (isolation, 16/0) on the seeds both
finished; strategy rows are also compared with "8/8 uniform". The curve of a configuration is the
mean over seeds and nodes of the per-round local reward.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean
from typing import Any

from benchmarks.sapo_checks import prefix_stable, tokenizer_coverage
from benchmarks.sapo_grid import Block
from benchmarks.sapo_sim import SPARSE, node_config
from benchmarks.sapo_stats import format_table, paired_ratios, ratio_summary
from swarm.report import moving_average

UNIFORM_LABEL = "8/8 uniform"
MA_WINDOW = 10


def _by_label(block: Block, runs: dict[str, dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    from benchmarks.sapo_table import spec_key

    out: dict[str, dict[int, dict[str, Any]]] = {}
    for seed in block.seeds:
        for config, spec in zip(block.configs, block.specs(seed)):
            row = runs.get(spec_key(spec))
            if row is not None:
                out.setdefault(config.label, {})[seed] = row
    return out


def _cum(row: dict[str, Any]) -> float:
    return float(sum(map(sum, row["rewards"])))


def _per_cpu(row: dict[str, Any]) -> float:
    return _cum(row) / row["cpu_s"]


def _compare(rows: dict[int, dict[str, Any]], base: dict[int, dict[str, Any]] | None, metric) -> dict[str, Any] | None:
    if base is None or rows is base:
        return None
    ratios = paired_ratios({s: metric(r) for s, r in rows.items()}, {s: metric(r) for s, r in base.items()})
    return ratio_summary(ratios) if ratios else None


def _row(label: str, rows: dict[int, dict[str, Any]], base, uniform) -> dict[str, Any]:
    runs = list(rows.values())
    flat = lambda key: [x for r in runs for node in r[key] for x in node]  # noqa: E731
    n_nodes, n_rounds = len(runs[0]["rewards"]), len(runs[0]["rewards"][0])
    curve = [mean(r["rewards"][k][t] for r in runs for k in range(n_nodes)) for t in range(n_rounds)]
    return {
        "label": label, "seeds": sorted(rows), "cumulative_reward": round(mean(map(_cum, runs)), 2),
        "vs_isolation": _compare(rows, base, _cum), "per_cpu_vs_isolation": _compare(rows, base, _per_cpu),
        "vs_uniform": _compare(rows, uniform, _cum) if label != UNIFORM_LABEL else None,
        "kept_per_update": round(mean(flat("kept")), 2), "kept_local_per_update": round(mean(flat("kept_local")), 2),
        "external_candidates_per_round": round(mean(flat("external_candidates")), 2),
        "mean_local_i": round(mean(flat("local_i")), 2),
        "cpu_s": round(mean(r["cpu_s"] for r in runs), 1),
        "cpu_s_per_node_round": round(mean(r["cpu_s"] for r in runs) / (n_nodes * n_rounds), 4),
        "reward_per_cpu_s": round(mean(map(_cum, runs)) / mean(r["cpu_s"] for r in runs), 4),
        "round0_reward": round(mean(curve[:1]), 4),
        "round0_zero_adv_fraction": round(1 - mean(r["kept_local"][k][0] / r["local_i"][k][0]
                                                   for r in runs for k in range(n_nodes)), 3),
        "last10_reward": round(mean(curve[-10:]), 4),
        "per_node_cumulative": [round(mean(sum(r["rewards"][k]) for r in runs), 2) for k in range(n_nodes)],
        "rejections": {k: sum(r["rejections"].get(k, 0) for r in runs) for k in {k for r in runs for k in r["rejections"]}},
        "curve": [round(x, 4) for x in curve],
    }


def build_report(blocks: list[Block], runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    report: dict[str, Any] = {"blocks": [], "checks": _checks(blocks)}
    for block in blocks:
        by_label = _by_label(block, runs)
        base, uniform = by_label.get(block.configs[0].label), by_label.get(UNIFORM_LABEL)
        rows = [_row(c.label, by_label[c.label], base, uniform) for c in block.configs if c.label in by_label]
        report["blocks"].append({"name": block.name, "regime": block.regime.name, "n_nodes": block.n_nodes,
                                 "rounds": block.rounds, "seeds_planned": list(block.seeds), "note": block.note,
                                 "warm_start_steps": block.regime.warm_start_steps, "rows": rows})
    return report


def _checks(blocks: list[Block]) -> dict[str, Any]:
    sparse = next((b for b in blocks if b.regime is SPARSE), None)
    if sparse is None:
        return {}
    model = node_config(sparse.specs(sparse.seeds[0])[0], 0).model
    return {"prefix_stable_draw": prefix_stable(SPARSE.rl_families),
            "tokenizer_coverage_sparse": tokenizer_coverage(model, SPARSE.warm_families, SPARSE.rl_families)}


def tables_text(report: dict[str, Any]) -> str:
    parts = []
    for block in report["blocks"]:
        title = (f"\n== {block['name']}: {block['regime']} regime, {block['n_nodes']} nodes, {block['rounds']} rounds, "
                 f"seeds {block['rows'][0]['seeds'] if block['rows'] else []} ==" + (f"  ({block['note']})" if block["note"] else ""))
        parts.append(format_table(title, block["rows"]))
    return "\n".join(parts)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = [b for b in report["blocks"] if b["rows"]]
    if not blocks:
        return
    fig, axes = plt.subplots(1, len(blocks), figsize=(5.5 * len(blocks), 4.2), squeeze=False)
    for ax, block in zip(axes[0], blocks):
        for row in block["rows"]:
            ax.plot(moving_average(row["curve"], MA_WINDOW), label=f"{row['label']} (n={len(row['seeds'])})")
        ax.set_title(f"{block['name']} ({block['regime']})")
        ax.set_xlabel("round")
        ax.set_ylabel(f"local reward, {MA_WINDOW}-round moving average")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(report: dict[str, Any], blocks: list[Block], runs: dict[str, dict[str, Any]],
                  json_path: Path, png_path: Path) -> str:
    text = tables_text(report)
    report["table"] = text
    json_path.write_text(json.dumps(report, indent=1))
    plot(report, png_path)
    return text + f"\n\nwrote {json_path} and {png_path}"


def dht_comparison(block: Block, sim: dict[str, dict[str, Any]], dht: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per seed: cumulative reward of 8/8 over the DHT, simulated 8/8 and simulated 16/0."""
    from benchmarks.sapo_table import spec_key

    seeds, lines = [], [f"{'seed':>4} {'16/0 sim':>9} {'8/8 sim':>9} {'8/8 DHT':>9} {'DHT/sim':>8} {'DHT/16:0':>9} "
                        f"{'kept sim':>8} {'kept DHT':>8} {'CPU sim':>8} {'CPU DHT':>8}"]
    for seed in block.seeds:
        base, shared = (sim.get(spec_key(s)) for s in block.specs(seed))
        real = dht.get(spec_key(block.specs(seed)[1]))
        if not (base and shared and real):
            continue
        kept = lambda r: mean(x for node in r["kept"] for x in node)  # noqa: E731
        item = {"seed": seed, "isolation_sim": _cum(base), "shared_sim": _cum(shared), "shared_dht": _cum(real),
                "dht_over_sim": _cum(real) / _cum(shared), "dht_over_isolation": _cum(real) / _cum(base),
                "sim_over_isolation": _cum(shared) / _cum(base), "kept_sim": kept(shared), "kept_dht": kept(real),
                "cpu_sim": shared["cpu_s"], "cpu_dht": real["cpu_s"], "rejections_dht": real["rejections"]}
        seeds.append(item)
        lines.append(f"{seed:>4} {item['isolation_sim']:>9.1f} {item['shared_sim']:>9.1f} {item['shared_dht']:>9.1f} "
                     f"{item['dht_over_sim']:>8.2f} {item['dht_over_isolation']:>9.2f} {item['kept_sim']:>8.2f} "
                     f"{item['kept_dht']:>8.2f} {item['cpu_sim']:>8.1f} {item['cpu_dht']:>8.1f}")
    summary = ratio_summary([s["dht_over_sim"] for s in seeds]) if seeds else None
    title = f"== 8/8 uniform over the hivemind DHT (loopback, 1 process per node) vs the simulation: {block.name}, {block.rounds} rounds =="
    return {"block": block.name, "rounds": block.rounds, "seeds": seeds, "dht_over_sim": summary,
            "table": "\n".join([title, *lines, f"DHT/sim mean {summary['mean'] if summary else 'n/a'}"])}
