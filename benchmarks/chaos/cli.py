"""The chaos benchmark's command line: which phases run for how long, the run's set-up and teardown, the JSON.

    sudo python -m benchmarks.chaos --smoke          # 4 nodes, T0 and T7p for 5 s each (< 1 minute)
    sudo python -m benchmarks.chaos --phases T2,T6 --out /tmp/t2t6.json

A full run (every phase, default length) writes ``benchmarks/results/chaos/full.json``; --smoke, --quick
and --phases runs write to ``runs/benchmarks/chaos/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.chaos.faults import t1_churn, t2_partition, t4_skew
from benchmarks.chaos.flood import plot_t6_memory, t6_flood
from benchmarks.chaos.hostile import t5_forged_claims, t5_hostile, t5_stream
from benchmarks.chaos.link import t3_bandwidth
from benchmarks.chaos.network import SUBNET, Network
from benchmarks.chaos.offline import t8_fuzz, t9_kills
from benchmarks.chaos.report import show
from benchmarks.chaos.swarm import ATTACKER_SCRIPT, Swarm, rss_mb
from benchmarks.chaos.sybils import t7_sybils, t7p_outsider
from benchmarks.chaos.workload import Phase, delivery, run_phase
from benchmarks.common import output_path, provenance, shown, write_json

ALL_PHASES = "T0,T1,T2,T3,T4,T5,T6,T7,T7p,T8,T9"
QUICK_PHASES = "T0,T1,T5,T7p,T8"
"""--quick: T0 short, T1 3 min, T5, T7p, T8 1 min per target (under 12 minutes)."""
SMOKE_PHASES = "T0,T7p"
"""--smoke: T0 and T7p for 5 s each on 4 nodes: the benchmark runs end to end (what CI runs)."""
SECONDS = {
    "full": dict(T0=60, T1=600, T2=30, T3=60, T4=60, T5=60, T6=600, T7=60, T7p=30, T8=120),
    "quick": dict(T0=15, T1=180, T2=15, T3=15, T4=15, T5=60, T6=120, T7=12, T7p=10, T8=60),
    "smoke": dict(T0=5, T1=30, T2=5, T3=5, T4=5, T5=10, T6=10, T7=5, T7p=5, T8=5),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import benchmarks.chaos

    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=benchmarks.chaos.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help=f"4 nodes, {SMOKE_PHASES} for 5 s each (< 1 minute)")
    parser.add_argument("--quick", action="store_true", help="short phases (< 12 minutes)")
    parser.add_argument("--nodes", type=int, default=None, help="honest nodes (default 8; smoke 4)")
    parser.add_argument("--phases", help="comma-separated (default: every phase; with --quick the issue's quick set "
                        f"{QUICK_PHASES})")
    parser.add_argument("--no-push", action="store_true", help="DHT only: no flood publishing to admitted peers")
    parser.add_argument("--t6-keys", help="comma-separated attacker key counts of T6 (default: 1,4; quick: 4)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON written at the end (default benchmarks/results/chaos/full.json for a full run of "
                             "every phase, else runs/benchmarks/chaos/<mode>.json); the T6 plot goes next to it")
    args = parser.parse_args(argv)
    args.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    args.nodes = args.nodes or (4 if args.smoke else 8)
    default = {"smoke": SMOKE_PHASES, "quick": QUICK_PHASES, "full": ALL_PHASES}[args.mode]
    name = args.mode if not args.phases else f"{args.mode}.{args.phases.replace(',', '_')}"
    args.out = output_path("chaos", f"{name}.json", full=args.mode == "full" and not args.phases, out=args.out)
    args.phases = args.phases or default
    return args


def run_phases(swarm: Swarm, args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Every wanted phase in order, its row into ``results["phases"]`` as it finishes."""
    phases = results["phases"]
    short, secs, wanted, rng = args.mode != "full", SECONDS[args.mode], set(args.phases.split(",")), random.Random(0)
    run = lambda name, fn: phases.__setitem__(name, fn()) if name.split()[0] in wanted else None  # noqa: E731
    run("T0 baseline", lambda: delivery(swarm, run_phase(swarm, Phase("T0"), secs["T0"])))
    run("T1 kill/restart", lambda: t1_churn(swarm, secs["T1"], rng))
    run("T2 partition", lambda: t2_partition(swarm, secs["T2"], cycles=1 if short else 3))
    run("T3 link", lambda: t3_bandwidth(swarm, secs["T3"], phases.get("T0 baseline")))
    run("T4 clock skew", lambda: t4_skew(swarm, secs["T4"]))
    if "T5" in wanted:
        attacker = swarm.spawn_extra(args.nodes, swarm.config, swarm.attacker_seed, script=ATTACKER_SCRIPT)
        try:
            phases["T5"] = t5_hostile(swarm, attacker, ("flood_over_quota",) if "T6" in wanted else ())
            phases["T5"]["forged_claims"] = t5_forged_claims(swarm, attacker)
            phases[f"T5 at rate ({secs['T5']} s)"] = t5_stream(swarm, attacker, secs["T5"])
        finally:
            attacker.stop()
    t6_baseline: dict[int, float] = {}  # per node RSS before the first flood, after T0
    for keys in (tuple(int(k) for k in args.t6_keys.split(",")) if args.t6_keys else (4,) if short else (1, 4)):
        run(f"T6 flood K={keys} ({args.mode}, {secs['T6']} s)", lambda: t6_flood(swarm, secs["T6"], keys, t6_baseline))
    if t6_rows := {k: v for k, v in phases.items() if k.startswith("T6 flood")}:
        results["t6_plot"] = plot_t6_memory(t6_rows, args.out.with_suffix(".t6_memory.png"))
    run("T7 sybils", lambda: t7_sybils(swarm, secs["T7"], *((40, 60) if short else (120, 120))))  # short: honest 40 s before the turn
    run("T7p outsiders", lambda: t7p_outsider(swarm, secs["T7p"]))
    run("T8", lambda: t8_fuzz(secs["T8"]))
    run("T9", lambda: t9_kills(30 if short else 100))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Namespaces and node processes are removed in `finally`: let SIGTERM and SIGINT (ignored in a
    # background job by default) reach it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    meta = provenance()
    log_dir = Path(os.environ.get("CHAOS_LOG_DIR", "/tmp")) / f"sapo-chaos-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    net = Network(args.nodes + 3)
    results: dict[str, Any] = {"mode": args.mode, "honest_nodes": args.nodes, "phases": {}, "time": time.time()}
    swarm = Swarm(net, args.nodes, log_dir)
    swarm.config["push_to_peers"] = not args.no_push
    results["push_to_peers"] = not args.no_push
    t_start = time.time()
    try:
        if os.geteuid() == 0:
            net.setup()
        else:
            net.fallback = "loopback (not root: no network namespaces)"
        results["network"] = net.fallback or f"one namespace per node, veth to a bridge, {SUBNET}.0/24"
        swarm.start_all()
        results["rss_start_mb"] = round(max(rss_mb(s.node) for s in swarm.slots), 1)
        print(f"{args.nodes} nodes up in {time.time() - t_start:.0f} s ({results['network']})", flush=True)
        run_phases(swarm, args, results)
    except (KeyboardInterrupt, SystemExit) as exc:  # stopped early: clean up, then report the phases that finished
        results["interrupted"] = f"{type(exc).__name__} during the run; phases after the last row did not run"
        print(results["interrupted"], flush=True)
    finally:
        swarm.stop()
        results["left_over"] = net.teardown() if not net.fallback else []
        results["crashes"] = swarm.crashes
        results["crashes_total"] = len(swarm.crashes)
        results["wall_s"] = round(time.time() - t_start, 1)
        results.setdefault("rss_start_mb", None)
        results.setdefault("network", net.fallback)
    results["rss_peak_mb"] = round(max([results["rss_start_mb"] or 0] + [v.get("rss_peak_mb") or 0 for v in _rows(results["phases"])]), 1)
    show(results)
    write_json(args.out, results, meta=meta)
    print(f"wall {results['wall_s']} s; wrote {shown(args.out)}")


def _rows(phases: dict) -> list[dict]:
    out = []
    for row in phases.values():
        if isinstance(row, dict):
            out += [row] + [v for v in row.values() if isinstance(v, dict)]
    return out
