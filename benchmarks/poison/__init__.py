"""Poisoned rollouts: the content attacks on a SAPO swarm, and the node's defences against them (issue 25).

    .venv/bin/python -m benchmarks.poison --quick          # CI smoke: 8 nodes, 12 rounds, control vs b_prefix
    nice -n 15 .venv/bin/python -m benchmarks.poison --tiers 0 1   # the grid's first tiers (resumable run log)
    .venv/bin/python -m benchmarks.poison --report-only    # results/poison.{json,png} from what has run

Modules: `attacks` (what a poisoner writes, and the detectors of what got planted), `swarm` (one run: N real
nodes over MemoryTransport, the last P poisoning), `grid` (the arms and blocks), `report` (table, JSON, plot).

Pre-registration (written before the grid ran; the figures in the README note come from these definitions):
- Swarm: 8 nodes on `configs/testnet.yaml`'s recipe: tiny-0.5m warm-started 200 steps on 2-term 1-digit chain_sum,
  RL on the same, I = 8 local and J = 8 external groups of L = 16 completions, at most 6 new tokens, GRPO at
  lr 3e-4, `external_advantage: positive` (the testnet's) unless an arm says "signed" (the default rule).
- Poisoners: the last P of the 8 (P = 1, 2, 4); they follow the honest recipe without training or collecting,
  and rewrite half of each of their 8 shared groups (`attacks.Rewriter`); the honest nodes are 0..7-P, with the
  same identities, tasks and generation seeds as in the no-attack control (paired by seed).
- Horizon: 100 rounds. Seeds 0-4 (5) for tier 0; 2 for tier 1; tier 2 as time allows, seed-major (the report says
  how many). (Written when the grid had 4 tiers, as "5 for tiers 0-1; 2 for tier 2; tier 3 as time allows"; the first
  two were merged into tier 0 before tier 1 ran, and this line renumbered on 2026-12-03, before tiers 1-2 ran.)
- Primary metric per arm, over honest nodes only, pooled over them: attack success in the last 20 rounds, mean
  over seeds with a 95% bootstrap interval. Attack success = share of the honest nodes' own sampled completions
  (their local rollouts: nothing shared is measured) with the planted pattern (a_suffix, b_prefix: the trigger
  phrase; d_step: "=<number>"), or longer in tokens than the paired control's 95th percentile (c_pad), or, for
  e_partial, 1 - honest cumulative own reward / the control's (the share of reward lost, over all 100 rounds).
- Secondary: honest cumulative own reward vs the paired control; mean own completion length vs the control's
  (last 20 rounds); false rejections: honest peers' groups lost to the defences (dropped whole or refused by peer
  trust) and honest completions removed; poisoned completions that got through; the defences' CPU-seconds as a
  share of the honest nodes' `Node.step` CPU-seconds.
- Tiers (run order; `grid.full_blocks`): 0: controls (positive, signed) and 2 of 8 for every attack (e_partial
  under both rules), and the planting attacks strengthened to 32 shared groups per poisoner, each undefended and
  with the default defences (shape and peer trust), seed-major: every finished seed is a complete paired set;
  and one SmolLM2-135M run (1 honest node, its only peer poisoning, 24 rounds). Added 2026-12-03, before they
  ran, after the calibration showed that SmolLM2's honest answers fail the shape check and that its own lowest
  token log-prob separates nothing (`calibration-smollm2-135m.json`): the same SmolLM2 attack against the
  "verbose" defences (shape's text checks off; plausibility on, mean token log-prob of paid completions, margin
  0.5 nats, quantile 0.005, 32 completions to calibrate: the calibration's chosen point), and 2 honest SmolLM2
  nodes under "verbose" and under the default defences (false rejections between honest verbose peers).
  Same metric (the trigger share of the last 20 of 24 rounds); seed 0 only. 1: the plausibility check also on
  (its setting changed on 2026-12-03, before any tier-1 run, from the lowest token log-prob of every completion
  to the calibrated mean of paid completions, margin 0.5: the first caught none of the trigger attacks)
  (control and e_partial, both rules) and the testnet's mixed tiny-0.5m/tiny-1.5m swarm (2 seeds). 2: 1 and 4
  poisoners of 8, undefended.
- Cost, measured before the grid: one 100-round run of the 8-node control took 551 CPU-seconds (2,022 s wall on
  this 2-core host shared by 7 agents; a 2-poisoner run about 360); tier 0 is 111 tiny runs (about 13 CPU-hours,
  about 23 hours of wall time at the CPU share this host gave), tier 1 12 runs, tier 2 50 runs: tiers 1-2 run
  only as far as time allows, and the report says how many seeds each arm has.

Reference: "Hail to the Thief" (arXiv 2511.09780), out-of-context and in-context poisoning of decentralized GRPO.
"""
