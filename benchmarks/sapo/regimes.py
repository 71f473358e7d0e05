"""Does learning pay for its CPU anywhere on this machine? Block 5's arms in other regimes and on a larger model.

    python -m benchmarks.sapo --controls-regimes          # 18 runs, about 11 min on 2 workers
    python -m benchmarks.sapo --controls-regimes --report-only

A diagnostic of the controls table (issue 26), not part of it. Block 5 found that in the sparser regime a node
that never trains (the frozen reference) beats every arm on the primary metric, cumulative reward per CPU-second,
because learning lifts reward by less than it costs within 150 rounds. These runs ask whether that is the
sparser regime's doing: S ("4/4 positive, claimed-signal intake"), 4/0 and the frozen reference in the dense and
sparse regimes on tiny-0.5m, and in the sparser regime with every node on tiny-1.5m. Pilot question seeds (1000,
1001), build 0, 150 rounds, 8 nodes, lr 3e-4; own run log (`controls-regimes.runs.jsonl.gz`). Two seeds and one
build give no interval: the figures are per seed, and never count toward the table.
"""

from __future__ import annotations

from typing import Any

from benchmarks.sapo import controls
from benchmarks.sapo.controls_report import Row, cpu, cum, per_cpu, rows_by_label
from benchmarks.sapo.grid import Block
from benchmarks.sapo.sim import DENSE, SPARSE, SPARSER

ARMS = (controls.SHARING_4, controls.ISOLATION_4, controls.FROZEN_4)
SEEDS = (controls.PILOT_SEED, controls.PILOT_SEED + 1)
NOTE = "does learning pay for its CPU here? diagnostic, never counts"


def regimes_blocks() -> list[Block]:
    """Dense and sparse on tiny-0.5m, sparser on tiny-1.5m: block 5's S, 4/0 and frozen reference in each."""
    settings = (("dense-8, tiny-0.5m", DENSE, ()), ("sparse-8, tiny-0.5m", SPARSE, ()),
                ("sparser-8, tiny-1.5m", SPARSER, ("tiny-1.5m",) * 8))
    return [Block(f"regimes: {name}", regime, 8, controls.ROUNDS, SEEDS, ARMS, models=models, builds=(0,),
                  seed_major=True, note=NOTE) for name, regime, models in settings]


def seed_figures(sharing: Row, isolation: Row, frozen: Row) -> dict[str, float]:
    """One seed of one setting: S over 4/0 per CPU-second and per round, each arm's cumulative reward over the
    frozen node's, and the reward each gained per CPU-second it spent beyond the frozen node's."""
    def gained(row: Row) -> float:
        extra = cpu(row) - cpu(frozen)
        return (cum(row) - cum(frozen)) / extra if extra > 0 else float("nan")

    return {"s_over_4_0_per_cpu_s": per_cpu(sharing) / per_cpu(isolation),
            "s_over_4_0_per_round": cum(sharing) / cum(isolation),
            "s_cpu_over_4_0": cpu(sharing) / cpu(isolation),
            "s_over_frozen": cum(sharing) / cum(frozen), "4_0_over_frozen": cum(isolation) / cum(frozen),
            "frozen_over_s_per_cpu_s": per_cpu(frozen) / per_cpu(sharing),
            "s_gained_per_extra_cpu_s": gained(sharing), "4_0_gained_per_extra_cpu_s": gained(isolation)}


def regimes_report(blocks: list[Block], runs: dict[str, Row]) -> dict[str, Any]:
    """Per setting and seed with all three arms logged: the arms' cumulative reward and CPU, and `seed_figures`."""
    settings = {}
    for block in blocks:
        by_label = rows_by_label(block, runs)
        seeds = {}
        for seed in block.seeds:
            rows = [by_label[arm.label].get((block.builds[0], seed)) for arm in ARMS]
            if any(row is None for row in rows):
                continue
            arms = {arm.label: {"cumulative_reward": round(cum(r), 2), "cpu_s": round(cpu(r), 1),
                                "reward_per_cpu_s": round(per_cpu(r), 4)} for arm, r in zip(ARMS, rows)}
            seeds[seed] = {"arms": arms, **{k: round(v, 4) for k, v in seed_figures(*rows).items()}}
        settings[block.name] = {"seeds": seeds, "missing_seeds": [s for s in block.seeds if s not in seeds]}
    return {"settings": settings, "arms": [a.label for a in ARMS], "table": format_regimes(settings)}


def format_regimes(settings: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per setting and seed."""
    lines = ["| setting | seed | S / 4/0 per CPU-s | S / 4/0 per round | S's CPU / 4/0's | S / frozen | 4/0 / frozen "
             "| frozen / S per CPU-s | reward gained per extra CPU-s: S, 4/0 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, setting in settings.items():
        for seed, f in setting["seeds"].items():
            lines.append(f"| {name} | {seed} | {f['s_over_4_0_per_cpu_s']:.2f}x | {f['s_over_4_0_per_round']:.2f}x "
                         f"| {f['s_cpu_over_4_0']:.2f}x | {f['s_over_frozen']:.2f}x | {f['4_0_over_frozen']:.2f}x "
                         f"| {f['frozen_over_s_per_cpu_s']:.2f}x | {f['s_gained_per_extra_cpu_s']:.3f}, "
                         f"{f['4_0_gained_per_extra_cpu_s']:.3f} |")
    return "\n".join(lines)


__all__ = ["ARMS", "SEEDS", "format_regimes", "regimes_blocks", "regimes_report", "seed_figures"]
