"""The controls table again after the CPU cuts of 2026-12-04: S and its two strongest controls on 3 builds x 5 seeds.

    python -m benchmarks.sapo --controls-cuts                # the grid below (resumable; complete tiers first)
    python -m benchmarks.sapo --controls-cuts --report-only  # the table, and each arm before and after the cuts
    python -m benchmarks.sapo --controls-cuts2               # block 2 (below): more cuts, the other 15 units
    python -m benchmarks.sapo --controls-cuts3               # block 3 (below): after the generation cut, with (b)
    python -m benchmarks.sapo --controls-cuts4               # block 4 (below): update and intake cuts, another host
    python -m benchmarks.sapo --controls-cuts5               # block 5 (below): half the generation, a frozen reference

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

PRE-REGISTRATION OF BLOCK 5 (written and committed before any of its runs; the commit says "Pre-registration")

Why. Blocks 1-4 compared S with isolation at S's generation (8/0) and above it (12/0 to 16/0). Block 4's logs (read
before this block; no new run) say the strongest control on this metric may be cheaper still:
- isolation does not learn in this regime within 150 rounds: 8/0's mean reward on the common questions is 0.0339
  per node-round in the first tenth of the rounds and 0.0340 in the last (12/0: 0.0338 -> 0.0362), while S rises
  0.0367 -> 0.0500 and the replay control 0.0341 -> 0.0424;
- so an isolation arm's reward is about the warm start's, and its reward per CPU-second is that reward over what it
  spends: the fewer groups it generates, the higher (in the first table 16/0 had 0.49x 8/0's per CPU-second).
The pilot below agrees: 4/0 (I = 4, the fewest the 4 common questions allow) gets 0.71 reward per CPU-second against
8/0's 0.54. S of this block is the sharing arm of the pilot with the most reward per CPU-second, "4/4 positive,
claimed-signal intake" (4 local groups, 4 peers' successes, block 4's intake). Controls: (a) 4/0 (S's generation) and
8/0 (the best control of blocks 1-4), (b) CPU-matched isolation, (c) "4/4 replay positive" (its own last 32
informative groups for the 4 J slots). A reference that is not a control: "4/0 frozen" (`round.train: false`: it
generates and is scored on the same questions and never updates); what an arm adds over it is what its learning
bought.

Pilot (question seed 1000, build 0, 150 rounds, this block's code and host; never counts): cumulative reward,
CPU-s, reward per CPU-s, optimizer steps per node:
  4/4 positive, claimed-signal intake   36.67   52.9   0.694   132.6
  4/8 positive, claimed-signal intake   35.25   64.4   0.547   144.9
  8/8 positive, claimed-signal intake   40.34   99.5   0.406   149.6   (block 4's S)
  4/0                                   34.75   49.0   0.710    65.8
  6/0                                   34.31   60.7   0.565    79.5
  8/0                                   38.40   70.7   0.543   100.6
  4/8 replay positive                   40.31   74.4   0.542   148.1

Calibration of (b): the first table's rule taken from 4/0 instead of 8/0 (S spends less than 8/0):
g = (c8 - c4) / 4, I_b = round(4 + (cS - c4) / g) (`calibrate_from_4`); `CALIBRATION_5` below: I_b = 5.

Prediction, written before the runs: S's reward per CPU-second 0.95x-1.12x of the best control's (expected: 4/0).
The pilot unit gives 0.98x (S spends 1.08x 4/0's CPU for 1.06x its reward per round); block 4's per-round gain
over its same-generation control (1.27x) would give 1.18x, but 4 peers' groups should buy less than 8. The primary's
lower bound above 1.0 is not expected.

Block "half generation: sparser-8": S "4/4 positive, claimed-signal intake", (a) "4/0", (a) "8/0", (b) "5/0,
CPU-matched", (c) "4/4 replay positive", reference "4/0 frozen"; 150 rounds, 8 nodes, block 4's regime, host
settings and metrics (`ATEN_CPU_CAPABILITY=avx2`, 2 workers). Units: builds 0, 1, 2 x question seeds 10-14, which no
run of any block or pilot has used; complete tiers first, only complete tiers analysed. Primary: S over the best of
(a) 4/0, (a) 8/0, (b) and (c) per CPU-second, paired per unit, 95% hierarchical bootstrap; success: lower bound above
1.0; ambition >= 1.5x. Secondary (per round): S over the best compute-matched control, (b) or (c). Also reported,
with the same intervals: every arm over the frozen reference on the same units (cumulative reward; the last tenth
of the rounds' reward, what learning added by the end; the reward gained per CPU-second spent over the reference's,
(cum - cum_frozen) / (CPU - CPU_frozen)). The reference's own reward per CPU-second is in the table; it does no RL
and never enters the primary. Reported on its own, never pooled with blocks 1-4.
"""

from __future__ import annotations

from typing import Any

from benchmarks.sapo import controls
from benchmarks.sapo.controls_report import Row, compare, cpu, cum, rows_by_label, tiers
from benchmarks.sapo.stats import hierarchical_summary
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


SEEDS_5 = tuple(range(10, 15))
NAME_5 = "half generation: sparser-8"
CPU_MATCHED_I_5: int | None = 5
"""I_b of block 5's control (b), from its calibration pilot (`CALIBRATION_5`), set before the block runs."""
CALIBRATION_5 = ("pilot (question seed 1000, build 0, 150 rounds, block 5's code and host), CPU-s per node-round: "
                 "c4 = 0.04082 (4/0, 48.98 CPU-s), c8 = 0.05889 (8/0, 70.67 CPU-s), cS = 0.04405 (4/4 positive, "
                 "claimed-signal intake, 52.86 CPU-s); g = (c8 - c4) / 4 = 0.004520; "
                 "I_b = round(4 + (cS - c4) / g) = round(4.72) = 5")


def calibrate_from_4(c4: float, c8: float, c_sharing: float) -> int:
    """I_b from the CPU-seconds per node-round of 4/0, 8/0 and S (block 5's rule: the first table's, from 4/0).

    >>> calibrate_from_4(0.04082, 0.05889, 0.04405)
    5
    """
    per_group = (c8 - c4) / 4
    return max(4, round(4 + (c_sharing - c4) / per_group))


def arms_5() -> tuple[SwarmConfig, ...]:
    """S 4/4, (a) 4/0 and 8/0, (b) CPU-matched isolation, (c) the replay control, and the frozen reference."""
    if CPU_MATCHED_I_5 is None:
        raise RuntimeError("block 5's control (b) is not calibrated yet")
    return (controls.SHARING_4, controls.ISOLATION_4, controls.ISOLATION_8, controls.cpu_matched(CPU_MATCHED_I_5),
            controls.REPLAY_4, controls.FROZEN_4)


def cuts_5_blocks(seeds: tuple[int, ...] = SEEDS_5) -> list[Block]:
    """Block 5: S at half the generation (4/4) against 4/0, 8/0, CPU-matched isolation and replay, with a frozen
    reference, on 15 units no run has used."""
    return [Block(NAME_5, SPARSER, 8, controls.ROUNDS, seeds, arms_5(), builds=controls.BUILDS, seed_major=True,
                  note="S 4/4 against 4/0, 8/0, CPU-matched isolation and the replay control; a frozen reference")]


def last_tenth(row: Row) -> float:
    """Reward on the common questions in the last tenth of the rounds, summed over nodes."""
    rounds = len(row["common"][0])
    return float(sum(sum(node[rounds - rounds // 10:]) for node in row["common"]))


def over_frozen(block: Block, runs: dict[str, Row]) -> dict[str, Any]:
    """Per arm, against the frozen reference on the same units (complete tiers): cumulative reward and the last
    tenth's reward over the reference's (same questions, same warm start: what learning added), and the reward
    the arm gained per CPU-second it spent over the reference's."""
    by_label = rows_by_label(block, runs)
    frozen = next((lb for lb in by_label if controls.role(lb) == "ref"), None)
    complete, _ = tiers(block, by_label)
    units = [(build, seed) for seed in complete for build in block.builds]
    if frozen is None or not units:
        return {}
    base = by_label[frozen]
    out: dict[str, Any] = {"reference": frozen, "units": len(units), "arms": {}}
    for label, rows in by_label.items():
        if label == frozen:
            continue
        gains = {u: (cum(rows[u]) - cum(base[u])) / (cpu(rows[u]) - cpu(base[u]))
                 for u in units if cpu(rows[u]) > cpu(base[u])}
        out["arms"][label] = {"reward_over_frozen": compare(rows, base, units, cum),
                              "last_tenth_over_frozen": compare(rows, base, units, last_tenth),
                              "gain_per_extra_cpu_s": hierarchical_summary(gains) if gains else None}
    return out


def format_over_frozen(figures: dict[str, Any]) -> str:
    if not figures:
        return ""
    lines = [f"What learning bought: each arm over the frozen reference \"{figures['reference']}\" (never updates), "
             f"same units ({figures['units']}):", "",
             "| arm | cum. reward / frozen | last tenth / frozen | reward gained per CPU-s over frozen's |",
             "|---|---|---|---|"]
    for label, f in figures["arms"].items():
        gain = f["gain_per_extra_cpu_s"]
        gain_cell = f"{gain['mean']:.4f} [{gain['ci95'][0]:.4f}, {gain['ci95'][1]:.4f}]" if gain else "-"
        lines.append(f"| {label} | {_fmt(f['reward_over_frozen'])} | {_fmt(f['last_tenth_over_frozen'])} | {gain_cell} |")
    return "\n".join(lines) + "\n"


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
