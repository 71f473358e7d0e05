"""The controls table's outputs: markdown for the results README (between its markers), the JSON and a plot
with intervals.

    text = write_controls(report, folder)   # controls.json, controls.png, README.md's block; returns the text

The README block lives between ``<!-- BEGIN controls table`` and ``<!-- END controls table -->`` in
``README.md`` of the output folder; a folder without those markers gets no README update.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmarks.common import shown, write_json
from benchmarks.sapo.stats import fmt_ratio
from swarm.report import moving_average

BEGIN, END = "<!-- BEGIN controls table", "<!-- END controls table -->"
MA_WINDOW = 10


def fmt(summary: dict[str, Any] | None) -> str:
    """'1.23x [1.10, 1.40] (8/9 > 1)'; '-' for a missing comparison."""
    return fmt_ratio(summary, missing="-", above=" > 1")


def _tiers_line(block: dict[str, Any]) -> str:
    cut = ", ".join(f"seed {c['seed']} ({c['runs_done']}/{c['runs_planned']} runs)" for c in block["tiers_cut_short"])
    return (f"**{block['name']}**: {len(block['tiers_complete'])} complete tier(s) analysed (question seeds "
            f"{block['tiers_complete']} x builds {block['builds']} = {block['units']} units, of "
            f"{len(block['seeds_planned'])} tiers planned); tiers cut short, not analysed: {cut or 'none'}."
            + _hosts_part(block))


def _hosts_part(block: dict[str, Any]) -> str:
    """' Hosts: seed 0: ...; seed 1: ...' once any analysed run logged its host, else nothing."""
    hosts = block.get("hosts", {})
    if all(names == ["not recorded"] for names in hosts.values()):
        return ""
    return " Hosts: " + "; ".join(f"seed {seed}: {', '.join(names)}" for seed, names in hosts.items()) + "."


def _spend_line(label: str, s: dict[str, Any], c: dict[str, Any], versus: dict[str, Any]) -> str:
    return (f"against {label}: {versus['cpu']:.2f}x its CPU, {s['optimizer_steps_per_node']:g} vs "
            f"{c['optimizer_steps_per_node']:g} optimizer steps per node, {s['generated_per_round']:g} vs "
            f"{c['generated_per_round']:g} groups generated a round, {s['groups_per_update']:g} vs "
            f"{c['groups_per_update']:g} groups per update; reward per CPU-s {fmt(versus['per_cpu'])}, "
            f"per round {fmt(versus['per_round'])}")


def headline(block: dict[str, Any]) -> list[str]:
    """The primary and secondary results and what S spends against each control."""
    a, arms = block["analysis"], block["arms"]
    s, p = a["sharing"], a["primary"]
    verdict = "met" if a["success"] else "not met"
    lines = [f"**Primary (reward per CPU-second):** S \"{s}\" / best control \"{a['best_control']}\" = {fmt(p)}; "
             f"success (lower bound > 1.0) {verdict}; ambition >= 1.5x {'met' if p['mean'] >= 1.5 else 'not met'}.",
             f"**Secondary (per round):** S / best compute-matched control \"{a['best_compute_matched']}\" = "
             f"{fmt(a['secondary'])} (target >= 1.5x).", "", "What S spends and gains:"]
    lines += [f"- {_spend_line(lb, arms[s], arms[lb], v)}" for lb, v in a["spends_vs_controls"].items()]
    for lb, v in a["vs_sharing"].items():
        lines.append(f"- ({v['role']}) \"{lb}\" / S: reward per CPU-s {fmt(v['per_cpu'])}, per round "
                     f"{fmt(v['per_round'])}, CPU {v['cpu']['mean']:.2f}x")
    return lines


def arms_table(block: dict[str, Any]) -> list[str]:
    first = next(iter(block["arms"]))
    lines = [f"| arm | role | cum. reward | CPU-s | reward/CPU-s | per CPU-s vs {first} | per round vs {first} | "
             "steps/node | generated/round | groups/update (local + peers + replayed) | peers' age (rounds) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, arm in block["arms"].items():
        age = "-" if arm["peer_age_windows"] is None else f"{arm['peer_age_windows']:.1f}"
        lines.append(f"| {label} | {arm['role'] or '-'} | {arm['cumulative_reward']:.1f} | {arm['cpu_s']:.0f} | "
                     f"{arm['reward_per_cpu_s']:.4f} | {fmt(arm['per_cpu_vs_first'])} | {fmt(arm['per_round_vs_first'])} | "
                     f"{arm['optimizer_steps_per_node']:g} | {arm['generated_per_round']:g} | {arm['groups_per_update']:g} "
                     f"({arm['local_per_update']:g} + {arm['peers_per_update']:g} + {arm['replayed_per_update']:g}) | {age} |")
    return lines


def matrix_table(block: dict[str, Any]) -> list[str]:
    """Every arm against every control, reward per CPU-second."""
    controls = list(block["analysis"]["spends_vs_controls"])
    lines = ["| arm / control (reward per CPU-s) | " + " | ".join(controls) + " |", "|---" * (len(controls) + 1) + "|"]
    for arm, row in block["analysis"]["matrix"].items():
        lines.append(f"| {arm} | " + " | ".join(fmt(row[c]["per_cpu"]) if c in row else "-" for c in controls) + " |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The README block: tiers analysed and cut short, the headline, every arm, every block."""
    lines = [f"Run log: {report['runs_in_log']} runs. Only complete tiers are analysed; intervals are 95% "
             "hierarchical bootstraps (builds, then seeds within builds; 10,000 resamples).", ""]
    if report.get("cpu_matched_i"):
        lines += [f"Control (b) generates I_b = {report['cpu_matched_i']} groups a round: {report['calibration']}.", ""]
    for block in report["blocks"]:
        lines += [_tiers_line(block), ""]
        if not block["units"]:
            continue
        if "analysis" in block:
            lines += headline(block) + [""] + arms_table(block) + [""] + matrix_table(block) + [""]
        else:
            lines += arms_table(block) + [""]
    return "\n".join(lines).rstrip() + "\n"


def update_readme(path: Path, text: str, stem: str = "controls") -> bool:
    """Replace the text between the markers of `stem` (``<!-- BEGIN <stem> table`` ... ``<!-- END <stem> table -->``)
    in `path`; False when the file or a marker is missing."""
    if not path.exists():
        return False
    old = path.read_text()
    begin, end = (BEGIN, END) if stem == "controls" else (f"<!-- BEGIN {stem} table", f"<!-- END {stem} table -->")
    pattern = re.compile(rf"({re.escape(begin)}[^\n]*\n).*?(\n?{re.escape(end)})", re.S)
    if not pattern.search(old):
        return False
    path.write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2).lstrip("\n"), old, count=1))
    return True


def plot(report: dict[str, Any], path: Path) -> None:
    """Left: S over every other arm of the primary block, per CPU-second and per round, with intervals.
    Right: every arm's reward curve (moving average). A placeholder when no tier is complete."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    block = report["blocks"][0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    if not block["units"]:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no complete tier yet", ha="center", va="center")
            ax.set_axis_off()
    else:
        a = block["analysis"]
        others = [lb for lb in block["arms"] if lb != a["sharing"]]
        for offset, metric, colour in ((-0.15, "per_cpu", "C0"), (0.15, "per_round", "C1")):
            for i, lb in enumerate(others):
                summary = a["s_over_arm"][lb][metric]
                low, high = summary["ci95"]
                err = [[summary["mean"] - low], [high - summary["mean"]]] if low == low else None
                left.errorbar(summary["mean"], i + offset, xerr=err, fmt="o", color=colour,
                              label={"per_cpu": "reward per CPU-s", "per_round": "reward per round"}[metric] if i == 0 else None)
        left.axvline(1.0, color="grey", lw=0.8)
        left.set_yticks(range(len(others)), [f"S / {lb}" for lb in others], fontsize=8)
        left.set_xlabel(f"S = {a['sharing']}: paired ratio, 95% hierarchical interval")
        left.legend(fontsize=8)
        for label, arm in block["arms"].items():
            right.plot(moving_average(arm["curve"], MA_WINDOW), label=label)
        right.set_xlabel("round")
        right.set_ylabel(f"reward on common questions, {MA_WINDOW}-round MA")
        right.legend(fontsize=7)
    fig.suptitle(f"{block['name']}: {block['units']} units ({len(block['tiers_complete'])} complete tiers)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_controls(report: dict[str, Any], folder: Path, stem: str = "controls", extra: str = "") -> str:
    """<stem>.json, <stem>.png and the README block (`extra` markdown appended); returns the markdown and what
    was written."""
    text = markdown(report) + (f"\n{extra}" if extra else "")
    report["markdown"] = text
    json_path, png_path = folder / f"{stem}.json", folder / f"{stem}.png"
    write_json(json_path, report, meta=report.get("provenance"))
    plot(report, png_path)
    readme = folder / "README.md"
    wrote = [shown(json_path), shown(png_path)] + ([shown(readme)] if update_readme(readme, text, stem) else [])
    return text + "\nwrote " + ", ".join(wrote)


__all__ = ["fmt", "markdown", "plot", "update_readme", "write_controls"]
