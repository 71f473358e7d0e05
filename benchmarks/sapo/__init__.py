"""SAPO's headline table on CPU: I local / J external splits, isolation controls and sampling strategies.

    python -m benchmarks.sapo --controls     # the pre-registered table of issue 26 (`benchmarks.sapo.controls`):
                                             # 8/8 positive against isolation controls matched in steps, CPU
                                             # and update size, 3 warm-start builds x 10 seeds (resumable)
    python -m benchmarks.sapo --controls-pilot  # its CPU calibration pilot (never counts)
    python -m benchmarks.sapo --quick        # the controls grid in miniature: sparse-4, 30 rounds, 2 builds (< 5 min)
    python -m benchmarks.sapo --tiny         # 2 nodes, 3 rounds, 1 seed: the smoke test
    python -m benchmarks.sapo                # every block of grid.full_blocks (resumable)
    python -m benchmarks.sapo --report-only  # rebuild table, JSON and PNG from finished runs
    python -m benchmarks.sapo --pilot        # the 2-seed pilots that did not make the table
    python -m benchmarks.sapo --fill         # today's packages (own log): sparser-8 over 150 rounds with the
                                             # fill and its variants, and the rows generating 8 groups a
                                             # round; the sparse-4 core over 60 rounds; the fill at
                                             # two and three optimizer steps per round
    python -m benchmarks.sapo --dht          # 8/8 over the real DHT on loopback vs the simulation

What it measures, per configuration (one row of the paper's table): cumulative reward summed over
nodes and rounds (reward = mean over a node's own local completions), its paired ratio over
isolation (16/0) with a bootstrap 95% interval over seeds, informative groups kept per update (the
mechanism: zero-advantage groups are dropped), CPU-seconds of all nodes' `Node.step` and reward per
CPU-second (with its own paired ratio). Strategy rows are also compared with 8/8 uniform.
Every run is the node's real round loop over `MemoryTransport` (see `benchmarks.sapo.sim`).

Modules: `cli` (flags, entry point), `grid` (which blocks and configurations), `controls` (the
pre-registered grid of issue 26), `controls_report` and `controls_output` (its table: complete tiers,
the best control, hierarchical intervals; README block, JSON, plot), `runs` (the worker pool and run
log), `sim` (one in-process swarm run), `dht` (the same over the real DHT), `report`, `stats` and
`checks` (the table, bootstrap intervals, sanity checks of the set-up).

Runs go two at a time (one torch thread each) and are appended to ``<experiment>.runs.jsonl`` as they
finish, then gzipped (``.runs.jsonl.gz``), so a long run can be resumed or reported early. Outputs:
``benchmarks/results/sapo/{controls,table,pilot,fill,dht}.json`` and their ``.png``; --quick and --tiny write to
``runs/benchmarks/sapo/`` (not tracked) unless ``--out-dir`` names another folder.
"""
