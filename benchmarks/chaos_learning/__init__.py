"""Learning under churn: real `swarm run` nodes (tiny models, real hivemind DHT) SIGKILLed and restarted.

    sudo python -m benchmarks.chaos_learning --smoke     # 2 nodes, 10 s, no faults: the benchmark runs (CI)
    sudo python -m benchmarks.chaos_learning --quick     # 4 nodes, ~3 minutes per run, two runs
    sudo python -m benchmarks.chaos_learning             # 8 nodes, 10 minutes of churn

Issue 8, T1 with the real node instead of `benchmarks.chaos`'s transport-only processes. Each honest
node is `swarm run --config <yaml> --out <dir> --identity <pem>` (tiny-0.5m, I=4/J=4, L=8,
checkpoint every round) in its own network namespace (`benchmarks.chaos.network`; loopback when not
root, and the table says so). Node 0 starts the swarm; every other node, and every restart, joins
through the multiaddrs of the nodes alive at that moment (their ``node.json``). Identities are derived
from fixed seeds, so both runs draw the same tasks and generation seeds:

  (a) baseline: N nodes for D seconds, no faults;
  (b) churn: the same, and every 20 s one random live node's whole process group (node and its p2pd)
      is SIGKILLed, then restarted 10 s later with the same identity and run folder.

D is counted from the moment every node has finished its first round; after D there are no more kills
and the run waits (at most 90 s) for the last restarted node's first round, outside the rates. Measured from each node's
``metrics.jsonl`` and process state: crashes of honest nodes (exits we did not cause, tracebacks in
logs); per restart, the round it resumed at vs the rounds it had completed before the kill (rounds of
learning lost) and the time to its first round after the restart (and whether that round already
received peers' rollouts); survivors' round rate vs baseline and their longest gap between rounds
(stall: > 30 s); rollouts exchanged per round (``external_received``, ``batches_received``); the mean
local reward per round of the honest nodes, churn vs baseline (cumulative reward ratio over the rounds
both runs reached).

Modules: `cli` (flags, the run), `swarm` (node slots, kills, restarts), `run` (one run and its per-node
figures), `report` (comparison, tables, plot). A full run writes
``benchmarks/results/chaos_learning/full.json`` and ``full.png``; --smoke and --quick write to
``runs/benchmarks/chaos_learning/`` unless ``--out`` says otherwise.
"""
