"""Chaos and abuse benchmark: 8 honest transport processes under churn, partitions, bandwidth limits,
clock skew, hostile records, floods and outsiders, with the figures users feel.

    sudo python -m benchmarks.chaos --smoke           # 4 nodes, T0 and T7p for 5 s each (< 1 minute): what CI runs
    sudo python -m benchmarks.chaos --quick           # T0, T1 3 min, T5, T7p, T8 1 min/target: < 12 minutes on 2 cores
    sudo python -m benchmarks.chaos                   # every phase at full length (63 minutes measured)
    sudo python -m benchmarks.chaos --phases T2,T6 --out /tmp/t2t6.json   # full-length rows, one at a time

Honest nodes are real transport processes (`tests/swarm/node_proc.py`: the hivemind DHT transport
driven by JSON commands; no model, so the gossip is what is measured), each in its own network
namespace joined by a veth pair to a bridge in one more namespace (10.77.0.0/24, no default route);
without root or `ip netns` they fall back to loopback, and the table says so. Every namespace is
deleted in ``finally`` and checked gone. Each phase publishes a batch per live node per cycle (~1 s)
and collects on every node, then drains for a few seconds. Per phase: delivery ratio of acknowledged
records (publish said stored) to nodes alive throughout, publish-to-accept latency p50/p99/max,
crashes of honest processes, RSS (node + its p2pd) at start and peak; per hostile class: injected,
rejected (per honest node, min-max) and accepted. Latency runs from the publish call to the moment the
receiver's inbox accepted the record (pushed or read from the DHT), not to the collect that returned it.

Phases (one module each, or two to a module): T0 baseline; `faults`: T1 SIGKILL/restart churn, T2
partition (blackhole routes): split 4/4 and heal, three times (once when short), then isolate one node
and heal, T4 clock skew (SAPO_CLOCK_OFFSET +262 s and -262 s, beyond the swarm clock's tolerance; +45 s
and a +-30 s swing within it); `link`: T3 every honest node behind a userspace fault proxy
(`benchmarks.chaos.proxy`: 100±20 ms, then 1 Mbit/s; loss SKIPPED) and then one node behind `tc tbf` at
256 kbit/s; `hostile`: T5 every hostile class from an insider attacker (once each, counted per class;
forged answers and TaskRefs through a learning node's intake; then every class at 10 records/s for 60 s
during the honest workload, `tests/chaos/hostile_stream.py`); `flood`: T6 1-4 admitted keys flooding
valid, maximum-size and junk records (memory, CPU, bounds); `sybils`: T7 hostile sybils (censoring at
1:1, 2:1, 4:1; stale and forging at 2:1; 4:1 that behave, then all turn to censoring; every accepted
batch audited; ``--no-push`` for the DHT-only figure), T7p an outsider without the secret; `offline`:
T8 the fuzz targets (`benchmarks.fuzz`), T9 SIGKILLs while a node's checkpoint and metrics are written
(100; 30 when short; tests/chaos/checkpoint_kills.py). Rows that cannot run print ``SKIPPED: <reason>``.
The rest: `cli` (flags, the run), `network`, `swarm` (the node processes), `workload` (cycles and
delivery), `report` (the printed tables). T1 with real learning nodes (tiny models, reward curves):
`benchmarks.chaos_learning`.

A full run of every phase writes ``benchmarks/results/chaos/full.json`` (and ``full.t6_memory.png``);
--smoke, --quick and --phases runs write to ``runs/benchmarks/chaos/`` unless ``--out`` says otherwise.
"""
