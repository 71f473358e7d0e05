"""The scale benchmark: per-node cost per round from 4 to 32 real processes, and a model of it up to 10,000 peers.

    python -m benchmarks.scale --smoke          # see benchmarks/scale/__main__.py for the rest

Modules: `driver` (one swarm, one window per round, one collector at a time), `ours_node` and `ref_node` (the
node processes), `metering` (every RPC by kind and category, with its bytes), `model` (calibration and
prediction, with its assumptions), `report` (tables and plot).
"""
