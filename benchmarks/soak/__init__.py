"""Soak: does a swarm with the `swarm join` defaults keep its reward over thousands of rounds?

    python -m benchmarks.soak --smoke          # CI: 3 tiny nodes x 16 rounds in process (< 1 min), to runs/benchmarks/soak/
    python -m benchmarks.soak --quick          # 3 tiny nodes x 40 rounds in process
    python -m benchmarks.soak --quick --dht    # ... plus a real 3-node DHT testnet with the join config, 10 rounds
    python -m benchmarks.soak                  # 3 nodes x 2,000 rounds x 3 seeds, in process (two runs at a time)
    python -m benchmarks.soak --one --seed 0 --rounds 1000 --nodes 1 --set node.algorithm.lr=1e-4 --log x.jsonl

What it measures, per node: reward (mean over its own completions) and policy entropy (mean -log p of its
own sampled tokens, `node.algorithms.base.sampled_entropy`) every round; its moving average over
`--window` rounds, the peak of that average and where the node ends against it. The run passes when no
node ends below 80% of its peak moving-average reward. The baseline in the same run is each node's own
peak (a collapse is a fall from it); the table also gives mean reward by eighths of the run.

The full soak runs in process (`benchmarks.soak.run`): the real `Node` round loop (tasks, policy, verifier,
signed records through `MemoryTransport`'s sharded store and receiver, intake re-scoring, the sampler, GRPO,
the collapse guard) with the join config's node section. Only the DHT is replaced, and a clock puts round r
in window r: 2,000 rounds x 3 nodes x 3 seeds of real DHT processes would hold both shared cores for hours.
`--dht` also starts a real 3-node testnet on loopback (DHT, processes) for a few rounds, so the join
defaults are exercised over the real transport too (tests/smoke covers it in CI).

Modules: `run` (one in-process swarm, seeds in parallel, the DHT check), `stats` (moving averages, the
per-node summary, table, plot). Outputs: ``benchmarks/results/soak/soak.json`` and ``soak.png`` (reward
and entropy per node) for a full run; ``--quick`` and ``--smoke`` write to ``runs/benchmarks/soak/``.
"""
