"""Gossip benchmark: the sharded transport against the reference pattern, in the same swarm and run.

    python -m benchmarks.gossip --smoke          # N=4, 5 KB, 1 round, both modes (< 1 min): what CI runs
    python -m benchmarks.gossip --quick          # N in {4, 8}, 5 KB and 100 KB, 3 rounds (< 2 min)
    python -m benchmarks.gossip --solo           # N in {4, 8, 16, 32}, 5 KB, 100 KB, 1 MB, 5 rounds, both modes
    python -m benchmarks.gossip --solo --nodes 32 --append   # one size at a time into the same result

N node processes on loopback (real hivemind DHT, NAT/AutoNAT/relays off); all nodes start each round
together (the worst case). Per round each node runs, one after the other:
- reference (genrl 0.3.0's pattern, `benchmarks.gossip.reference`): store its sealed batch under one key
  per round (subkey = peer id, expiration 600 s, default beam), sleep 1 s, one ``get(latest=True)``; a
  ``None`` is counted. It runs on a second, plain hivemind DHT node in each process, without our
  store-side validator, which refuses its plain keys.
- sharded (ours): ``publish`` then ``collect`` every 50 ms until it holds J=4 (or N-1) batches of
  this round or 3 s passed; no fixed sleep.
Reported per pattern: publish and collect time, CPU s and DHT bytes read/written per node per round,
publish-to-visible latency p50/p99 (batch creation to the collect that returned it) and app bytes
per rollout received. Wall times are "N processes on 2 cores": on this host judge by CPU, bytes and
ratios (see ../shared/baselines.md).

"One collector at a time" (``--solo``, after the all-at-once rounds): every node publishes, then three
nodes collect in turn while the others only serve, so each pattern's own per-collect cost shows
without the host's saturation: collect time, CPU of the collecting node *including its p2pd daemon*,
and bytes read. For the sharded pattern both include the records pushed to the collector since the
round began (they arrive while peers publish, before it collects): their bytes, and the CPU its receive
path spent checking them. This is how scale is judged (baselines.md).

A full run writes ``benchmarks/results/gossip/full.json``; --smoke and --quick write to
``runs/benchmarks/gossip/`` unless ``--out`` says otherwise. Modules: `cli` (flags, output), `driver`
(one swarm size), `node` (the node process), `reference` (the reference pattern), `report` (tables, ratios).
"""
