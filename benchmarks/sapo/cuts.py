"""The controls table again after the CPU cuts of 2026-12-04: S and its two strongest controls on 3 builds x 5 seeds.

    python -m benchmarks.sapo --controls-cuts                # the grid below (resumable; complete tiers first)
    python -m benchmarks.sapo --controls-cuts --report-only  # the table, and each arm before and after the cuts
    python -m benchmarks.sapo --controls-cuts2               # block 2 (below): more cuts, the other 15 units
    python -m benchmarks.sapo --controls-cuts3               # block 3 (below): after the generation cut, with (b)
    python -m benchmarks.sapo --controls-cuts4               # block 4 (below): update and intake cuts, another host

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

PRE-REGISTRATION OF BLOCK 3 (written and committed before any of its runs; the commit says "Pre-registration")

Why. Since block 2 generation got about 4x cheaper in every arm, with no change to a sampled token: `Policy.generate`
renders each question's chat template once instead of once per sampled row, and the eager decode loop prefills each
distinct prompt once and copies its keys and values to the L rows that share it. Pilot (question seed 1000, build 0,
60 rounds, never counts): generation 105 -> 23 ms per node-round for S and 114 -> 25 for 8/0; cumulative rewards
equal to the last digit (15.956, 14.672). Generation, common to every arm, was most of each arm's CPU; what is left is
mostly training, where S spends more (it trains on ~7 peers' groups a round). So S's CPU over 8/0's rises, and
CPU-matched isolation (b), which buys reward with more generation, got cheaper. Blocks 1 and 2 no longer describe the
product's costs; block 3 measures the table again on today's code, with control (b) back in.

Calibration of (b) by the first table's rule (`controls.calibrate`), pilot at 150 rounds on question seed 1000,
build 0 (never counts): `CALIBRATION_3` below; I_b = 13.

Prediction, written before the runs (the same pilot, one unit): S's reward per CPU-second is about 0.78x of 8/0's
(S: 1.75x 8/0's CPU, 1.36x its reward per round), so the primary target is expected to fail.

Block "generation cut: sparser-8": S "8/8 positive", (a) "8/0", (b) "13/0, CPU-matched", (c) "8/8 replay positive";
150 rounds, 8 nodes, the regime, host settings and metrics of blocks 1 and 2. Units: builds 0, 1, 2 x question seeds
0-4, block 1's units, so each arm is paired with itself in block 1 (what the generation cut changed); complete tiers
first, only complete tiers analysed. Primary: S over the best of (a), (b) and (c) per CPU-second, paired per unit,
95% hierarchical bootstrap; success: lower bound above 1.0; ambition >= 1.5x. Secondary (per round): S over the best
compute-matched control, (b) or (c). Also: each arm's CPU-seconds and cumulative reward over the same arm of block 1
on the same units. Block 3 is reported on its own, never pooled with blocks 1 and 2.

PRE-REGISTRATION OF BLOCK 4 (written and committed before any of its runs; the commit says "Pre-registration")

Why. Block 3 left S at 0.87x [0.80, 0.95] of 8/0 per CPU-second. Three cuts since, all in the product:
- shared-prompt updates (`model.shared_prompt_updates`, on by default): a training micro-batch runs each distinct
  prompt once and hands its keys and values to every row with it; the same log-probs and gradients up to float
  rounding (tests/unit/test_policy.py). A 128-row batch of 8 groups: forward and backward 220 -> 69 ms;
- the update's Adam step is fused (one kernel for every tensor): clip + step 3.2 -> 1.1 ms on this model;
- claimed-signal intake (`sampler.rescore_claimed_signal_only`, off by default, on in this block's S): intake
  rebuilds and re-scores only the peers' groups their sender scored unequally; the claim decides what is checked,
  never what is learned. With one verifier in the swarm the same groups reach selection, but the peer-trust
  defence then judges a peer on the groups it inspects, so its decisions (and S's learning) can differ.
Pilot (question seed 1000, build 0, 150 rounds, never counts), old code and new side by side on this host:
8/0 76.1 -> 68.5 CPU-s (training 26.8 -> 17.8), S 107.4 -> 105.8 (training 42.7 -> 39.9: S's rows, after
inert-row skipping and merging, are spread over ~9 prompts, so little is shared); claimed-signal intake on top:
S 94.0 CPU-s (re-score and screen 11.3 -> 3.0). Cumulative reward 36.41 -> 38.40 (8/0) and 43.65 -> 44.11 (S)
by float rounding; S with claimed-signal intake 40.34. With peer trust off, S with and without it gave the same
reward to the last digit over 40 rounds (9.9553 both).

Host. Blocks 1-3 ran on another 2-core host; this one spends about 1.5x the CPU-seconds on the same runs (block 3's
code: 8/0 0.0634 CPU-s per node-round here against 0.0414 in block 3's pilot). Run rows now record the CPU model.
Ratios are taken within the block only; block 4 is never pooled with blocks 1-3, and its CPU after/before
block 3 (same units) mixes the cuts with the hosts' speeds: only its reward column is read.

Calibration of (b) by the first table's rule, the pilot above (with S as this block runs it): `CALIBRATION_4`
below; I_b = 12.

Prediction, written before the runs: S's reward per CPU-second 0.76x-0.93x of 8/0's (the pilot unit gives 0.76x,
S spending 1.38x 8/0's CPU for 1.05x its reward per round; with block 3's 1.29x per round it would be 0.93x). The
primary target is expected to fail.

Block "product cuts: sparser-8": S "8/8 positive, claimed-signal intake", (a) "8/0", (b) "12/0, CPU-matched",
(c) "8/8 replay positive"; 150 rounds, 8 nodes, the regime and metrics of blocks 1-3, `ATEN_CPU_CAPABILITY=avx2`,
2 workers. Units: builds 0, 1, 2 x question seeds 0-4 (block 1's and 3's units); complete tiers first, only complete
tiers analysed. Primary: S over the best of (a), (b) and (c) per CPU-second, paired per unit, 95% hierarchical
bootstrap; success: lower bound above 1.0; ambition >= 1.5x. Secondary (per round): S over the best compute-matched
control, (b) or (c). Also: each arm's cumulative reward over the same arm of block 3 on the same units (8/0 and (c);
S and (b) changed labels). Reported on its own, never pooled with blocks 1-3.
"""

from __future__ import annotations

from typing import Any

from benchmarks.sapo import controls
from benchmarks.sapo.controls_report import Row, compare, cpu, cum, rows_by_label, tiers
from benchmarks.sapo.grid import Block, SwarmConfig
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


SEEDS_3 = SEEDS
NAME_3 = "generation cut: sparser-8"
CPU_MATCHED_I_3: int | None = 13
"""I_b of block 3's control (b), from its calibration pilot (`CALIBRATION_3`), set before the block runs."""
CALIBRATION_3 = ("pilot (question seed 1000, build 0, 150 rounds, after the generation cut), CPU-s per node-round: "
                 "c8 = 0.04138 (8/0, 49.65 CPU-s), c16 = 0.09517 (16/0, 114.2 CPU-s), cS = 0.07232 (8/8 positive, "
                 "86.78 CPU-s); g = (c16 - c8) / 8 = 0.006724; I_b = round(8 + (cS - c8) / g) = round(12.60) = 13")


def arms_3() -> tuple[SwarmConfig, ...]:
    """S, (a) 8/0, (b) CPU-matched isolation, (c) the replay control."""
    if CPU_MATCHED_I_3 is None:
        raise RuntimeError("block 3's control (b) is not calibrated yet")
    return (controls.SHARING, controls.ISOLATION_8, controls.cpu_matched(CPU_MATCHED_I_3), controls.REPLAY)


def cuts_3_blocks(seeds: tuple[int, ...] = SEEDS_3) -> list[Block]:
    """Block 3: after the shared prefill, S against (a), (b) and (c) on block 1's units."""
    return [Block(NAME_3, SPARSER, 8, controls.ROUNDS, seeds, arms_3(), builds=controls.BUILDS, seed_major=True,
                  note="S against 8/0, CPU-matched isolation and the replay control after the generation cut")]


SEEDS_4 = SEEDS
NAME_4 = "product cuts: sparser-8"
CPU_MATCHED_I_4: int | None = 12
"""I_b of block 4's control (b), from its calibration pilot (`CALIBRATION_4`), set before the block runs."""
CALIBRATION_4 = ("pilot (question seed 1000, build 0, 150 rounds, after the product cuts, on block 4's host), CPU-s "
                 "per node-round: c8 = 0.05673 (8/0, 68.07 CPU-s), c16 = 0.10527 (16/0, 126.32 CPU-s), cS = 0.07834 "
                 "(8/8 positive, claimed-signal intake, 94.01 CPU-s); g = (c16 - c8) / 8 = 0.006068; "
                 "I_b = round(8 + (cS - c8) / g) = round(11.56) = 12")


def arms_4() -> tuple[SwarmConfig, ...]:
    """S with claimed-signal intake, (a) 8/0, (b) CPU-matched isolation, (c) the replay control."""
    if CPU_MATCHED_I_4 is None:
        raise RuntimeError("block 4's control (b) is not calibrated yet")
    return (controls.SHARING_CLAIMED, controls.ISOLATION_8, controls.cpu_matched(CPU_MATCHED_I_4), controls.REPLAY)


def cuts_4_blocks(seeds: tuple[int, ...] = SEEDS_4) -> list[Block]:
    """Block 4: after the update and intake cuts, S (claimed-signal intake) against (a), (b) and (c), block 1's units."""
    return [Block(NAME_4, SPARSER, 8, controls.ROUNDS, seeds, arms_4(), builds=controls.BUILDS, seed_major=True,
                  note="S with claimed-signal intake against 8/0, CPU-matched isolation and the replay control "
                       "after the update and intake cuts")]


def before_and_after(block: Block, runs: dict[str, Row], first_runs: dict[str, Row],
                     before_block: Block | None = None) -> dict[str, Any]:
    """Per arm: CPU-seconds and cumulative reward after the cuts over the same arm of an earlier block on the same
    units (the complete tiers of `block` whose units the earlier block also has; by default the first table).
    An arm the earlier block did not run is left out."""
    after = rows_by_label(block, runs)
    before = rows_by_label(before_block or controls.controls_blocks(require_calibration=False)[0], first_runs)
    complete, _ = tiers(block, after)
    out: dict[str, Any] = {}
    for label, rows in after.items():
        if label not in before:
            continue
        units = [u for u in rows if u[1] in complete and u in before[label]]
        out[label] = {"units": len(units), "cpu_after_over_before": compare(rows, before[label], units, cpu),
                      "reward_after_over_before": compare(rows, before[label], units, cum)}
    return out


def format_before_and_after(figures: dict[str, Any], reference: str = "the first table (`controls.runs.jsonl.gz`)") -> str:
    lines = [f"Each arm after the cuts over the same arm of {reference}, same units:", "",
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
