"""Where each arm of the controls table spends its CPU: seconds per node-round in each phase of `Node.step`.

    python -m benchmarks.sapo --controls-phases          # 8/0, 16/0, S and the replay control (4 runs)
    python -m benchmarks.sapo --controls-phases --report-only

A diagnostic of the controls table (issue 26), not part of it: the table's primary metric divides by the
whole node's CPU and cannot say which phase makes S cost more than 8/0. These runs repeat four of its arms on
the calibration pilot's question seed (1000) and build 0, with every run row carrying the seconds of each
phase (`RunResult.phase_s`), in their own run log (`controls-phases.runs.jsonl.gz`). They never count toward
the table: a question seed outside the grid, one build, no interval.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from benchmarks.sapo import controls
from benchmarks.sapo.controls_report import Row, rows_by_label, spend
from benchmarks.sapo.grid import ISOLATION, Block
from benchmarks.sapo.sim import PHASES, SPARSER

ARMS = (controls.ISOLATION_8, ISOLATION, controls.SHARING, controls.REPLAY)
OTHER = "other"
"""CPU of `Node.step` outside the timed phases: selection, the pool and replay buffer, the metrics row."""


def phases_blocks() -> list[Block]:
    return [Block("phases: sparser-8", SPARSER, 8, controls.ROUNDS, (controls.PILOT_SEED,), ARMS,
                  builds=(0,), seed_major=True, note="where each arm's CPU goes; diagnostic, never counts")]


def arm_phases(rows: list[Row]) -> dict[str, Any]:
    """Seconds per node-round of each phase (and `other`), the CPU they add up to, and the training cost per
    group trained on, averaged over `rows` (runs logged before `phase_s` existed are refused)."""
    missing = [r["label"] for r in rows if "phase_s" not in r]
    if missing:
        raise ValueError(f"runs without phase seconds (logged before RunResult.phase_s): {missing}")
    node_rounds = len(rows[0]["cpu"]) * len(rows[0]["cpu"][0])
    per = {name: mean(r["phase_s"][name] for r in rows) / node_rounds for name in PHASES}
    cpu = mean(r["cpu_s"] for r in rows) / node_rounds
    per[OTHER] = cpu - sum(per.values())
    groups = mean(sum(map(sum, r["kept"])) for r in rows)
    train = mean(r["phase_s"]["train"] for r in rows)
    return {"s_per_node_round": {k: round(v, 5) for k, v in per.items()}, "cpu_s_per_node_round": round(cpu, 5),
            "train_s_per_group_trained": round(train / groups, 5) if groups else None, **_spend_figures(rows)}


def _spend_figures(rows: list[Row]) -> dict[str, Any]:
    s = spend(rows)
    return {k: s[k] for k in ("optimizer_steps_per_node", "groups_per_update", "generated_per_round",
                              "reward_per_cpu_s", "cumulative_reward")}


def phases_report(block: Block, runs: dict[str, Row]) -> dict[str, Any]:
    """Every arm of `block` that ran: its phases, and its CPU over 8/0's split by phase (where S's extra goes)."""
    by_label = rows_by_label(block, runs)
    arms = {label: arm_phases(list(rows.values())) for label, rows in by_label.items() if rows}
    base = arms.get(controls.ISOLATION_8.label)
    if base is not None:
        for figures in arms.values():
            figures["extra_over_8_0_s_per_node_round"] = {
                k: round(v - base["s_per_node_round"][k], 5) for k, v in figures["s_per_node_round"].items()}
    return {"block": block.name, "question_seed": controls.PILOT_SEED, "build": 0, "arms": arms,
            "table": format_phases(arms)}


def format_phases(arms: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per arm, milliseconds per node-round in each phase, then CPU, steps and groups."""
    names = [*PHASES, OTHER]
    head = ("| arm | " + " | ".join(names) + " | CPU | vs 8/0 | train per group | steps/node | groups/update |\n"
            "|---|" + "---:|" * (len(names) + 5))
    base = arms.get(controls.ISOLATION_8.label, {}).get("cpu_s_per_node_round")
    lines = [head]
    for label, f in arms.items():
        cells = [f"{1000 * f['s_per_node_round'][n]:.1f}" for n in names]
        ratio = f"{f['cpu_s_per_node_round'] / base:.2f}x" if base else "-"
        per_group = f"{1000 * f['train_s_per_group_trained']:.2f}" if f["train_s_per_group_trained"] else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {1000 * f['cpu_s_per_node_round']:.1f} | {ratio}"
                     f" | {per_group} | {f['optimizer_steps_per_node']} | {f['groups_per_update']} |")
    return "\n".join(lines) + ("\n\n(milliseconds per node-round; train per group: ms of training per group trained on;"
                                " the phases are wall time, so `other` below 0 is the time they spent waiting)")


__all__ = ["ARMS", "arm_phases", "format_phases", "phases_blocks", "phases_report"]
