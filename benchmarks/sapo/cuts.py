"""The controls table again after the CPU cuts of 2026-12-04: S and its two strongest controls on 3 builds x 5 seeds.

    python -m benchmarks.sapo --controls-cuts                # the grid below (resumable; complete tiers first)
    python -m benchmarks.sapo --controls-cuts --report-only  # the table, and each arm before and after the cuts
    python -m benchmarks.sapo --controls-cuts2               # block 2 (below): more cuts, the other 15 units

PRE-REGISTRATION (written and committed before any run of this grid; the commit says "Pre-registration")

Why. The controls table (`benchmarks.sapo.controls`, 30 units) found S "8/8 positive" at 0.80x [0.75, 0.86] of
the best control (8/0) per CPU-second, although it had 1.24x its reward per round. Its phase diagnostic
(`controls-phases.json`) put S's extra CPU in training on ~6 more groups and in re-scoring every group the peers
published. The cuts made since change no step, only what a step costs:
- `Algorithm.update` runs one forward and backward pass per distinct row (same tokens, completion mask,
  advantage and origin), weighted by its count (`algorithm.merge_duplicates`, default on): in the pilot below
  each distinct row stood for 3.7 rows that needed a gradient for S (22,057 rows, 6,005 distinct), 3.2 for 8/0;
- the verifier scores a repeated answer once per group; the shape check tokenises a round's texts in one call,
  each distinct text once; `Policy.build_batch` tokenises each distinct peer text once.
The same step up to float rounding (tests/unit/test_algorithms.py compares the parameters after an update with and
without merging). Pilot (question seed 1000, build 0, 60 rounds, never counts): S 100.8 -> 69.8 CPU-s, 8/0
65.2 -> 56.1 CPU-s; cumulative reward 16.00 -> 16.33 and 14.68 -> 14.67 (float rounding changes which tokens are
sampled later on, not the expected step).

Block "cuts: sparser-8": the primary block's regime, 150 rounds, 8 nodes, 16 completions per question, GRPO lr
3e-4, 6 new tokens, the same node configurations as the first table, with the cuts. Arms:
- S   "8/8 positive" (the first table's primary arm, unchanged);
- (a) "8/0": isolation, same optimizer steps per round, same generation;
- (c) "8/8 replay positive": isolation with a replay buffer of its own last 32 informative groups for J.
Not rerun: (a) 16/0 and (b) 14/0, CPU-matched: in the first table each had less reward per CPU-second than 8/0
in 30 of 30 units (0.49x [0.46, 0.51] and 0.56x [0.53, 0.58] of 8/0), and the cuts do not touch generation,
which is most of their CPU (16/0: 215 of 278 ms per node-round in the phase diagnostic); neither can be the best
control. (d) and R are not controls; their first-table figures stand.

Builds and seeds: warm-start builds 0, 1, 2 x question seeds 0-4 (15 units), the first table's units, in
complete tiers (every arm on builds 0-2 under seed 0, then seed 1, ...). Only complete tiers are analysed; a tier
cut short is listed and not analysed. Run with `ATEN_CPU_CAPABILITY=avx2` on a 2-core host (the kernels of the
first table's tiers 1-9), so each build hashes as in the first table (each row carries its model's sha256).

Primary metric (as in the first table): reward per CPU-second of the whole node (cumulative reward on the common
questions over 8 nodes and 150 rounds, over the CPU-seconds of all nodes' `Node.step`); per unit the paired ratio
S / control; mean over units; 95% hierarchical bootstrap (builds, then seeds within builds; 10,000 resamples).
S is compared with the better of (a) and (c) per CPU-second. Success: lower bound above 1.0; ambition >= 1.5x.
Secondary (per round): S / (c), the compute-matched control; target >= 1.5x.

Also reported: every arm against every other; and, per arm, its CPU-seconds and its cumulative reward after the
cuts over the same arm on the same units of the first table (a paired ratio with the same interval): the CPU
saved, and a check that the reward did not move beyond seed-to-seed noise.

Pilots never count: the runs of seed 1000 above, and every --quick or --tiny run.

PRE-REGISTRATION OF BLOCK 2 (written and committed before any of its runs; the commit says "Pre-registration")

Why. Block "cuts: sparser-8" (45 runs, complete) left S at 1.07x [0.97, 1.14] of 8/0 per CPU-second. What S still
spends over 8/0 (py-spy on the pilot seed): training on ~7 more groups (compute: a forward and backward pass of this
model costs about 1.6 ms per 32-token row, linear in rows), reading peers' records (msgpack decoding in Python,
signatures), re-scoring and screening peers' groups. Three more cuts, none of which changes a step, a verdict or a
sampled token (the pilot's rewards are equal to the last digit):
- `protocol.codec` checks a completion of exact types within bounds inline (`_fast_completion`); anything else still
  takes the field-by-field reader and its errors (0.34 -> 0.17 ms per 8 x 16 batch);
- the shape check's token counter keeps the counts of texts it has seen (up to 4,096, emptied when full), and each
  distinct text of a group is measured once;
- the verifier extracts each distinct completion's answer once.
Pilot (question seed 1000, build 0, 60 rounds, never counts; each arm run side by side with the previous code):
S 69.2 -> 65.4 CPU-s (collect 6.2 -> 5.4, re-score and screen 9.4 -> 6.2 ms per node-round), cumulative reward
15.956 both; 8/0 54.8 -> 50.4 CPU-s, 14.672 both (its code barely changed: two processes side by side differ by up to
9% in generation CPU, the noise this pilot cannot resolve).

Block "cuts 2: sparser-8": the arms, regime, horizon, host settings and metrics of block 1, unchanged: S "8/8
positive", (a) "8/0", (c) "8/8 replay positive", 150 rounds, 8 nodes. Units: builds 0, 1, 2 x question seeds 5-9,
the first table's other 15 units, which no run since the cuts has used; complete tiers first, only complete tiers
analysed. Primary: S over the better of (a) and (c) per CPU-second, paired per unit, 95% hierarchical bootstrap;
success: lower bound above 1.0; ambition >= 1.5x. Secondary: per round, S over (c). Also: each arm over the same arm
of the first table on the same units. Block 2 is reported on its own, next to block 1, never pooled with it (its code
spends less CPU, so its ratios are a different quantity).
"""

from __future__ import annotations

from typing import Any

from benchmarks.sapo import controls
from benchmarks.sapo.controls_report import Row, compare, cpu, cum, rows_by_label, tiers
from benchmarks.sapo.grid import Block
from benchmarks.sapo.sim import SPARSER

ARMS = (controls.SHARING, controls.ISOLATION_8, controls.REPLAY)
SEEDS = tuple(range(5))
NAME = "cuts: sparser-8"


SEEDS_2 = tuple(range(5, 10))
NAME_2 = "cuts 2: sparser-8"


def cuts_blocks(seeds: tuple[int, ...] = SEEDS) -> list[Block]:
    return [Block(NAME, SPARSER, 8, controls.ROUNDS, seeds, ARMS, builds=controls.BUILDS, seed_major=True,
                  note="S against 8/0 and the replay control after the CPU cuts")]


def cuts_2_blocks(seeds: tuple[int, ...] = SEEDS_2) -> list[Block]:
    """Block 2: the same arms after three more cuts, on the first table's other 15 units."""
    return [Block(NAME_2, SPARSER, 8, controls.ROUNDS, seeds, ARMS, builds=controls.BUILDS, seed_major=True,
                  note="S against 8/0 and the replay control after the second CPU cuts")]


def before_and_after(block: Block, runs: dict[str, Row], first_runs: dict[str, Row]) -> dict[str, Any]:
    """Per arm: CPU-seconds and cumulative reward after the cuts over the first table's same arm on the same
    units (the complete tiers of `block` whose units the first table also has)."""
    after = rows_by_label(block, runs)
    first_block = controls.controls_blocks(require_calibration=False)[0]
    before = rows_by_label(first_block, first_runs)
    complete, _ = tiers(block, after)
    out: dict[str, Any] = {}
    for label, rows in after.items():
        units = [u for u in rows if u[1] in complete and u in before.get(label, {})]
        out[label] = {"units": len(units), "cpu_after_over_before": compare(rows, before[label], units, cpu),
                      "reward_after_over_before": compare(rows, before[label], units, cum)}
    return out


def format_before_and_after(figures: dict[str, Any]) -> str:
    lines = ["Each arm after the cuts over the same arm of the first table (`controls.runs.jsonl.gz`), same units:", "",
             "| arm | units | CPU-s after / before | cumulative reward after / before |", "|---|---:|---|---|"]
    for label, f in figures.items():
        cells = [_fmt(f[k]) for k in ("cpu_after_over_before", "reward_after_over_before")]
        lines.append(f"| {label} | {f['units']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _fmt(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    low, high = summary["ci95"]
    return f"{summary['mean']:.2f}x [{low:.2f}, {high:.2f}]"
