"""The learning-under-churn benchmark's command line: sizes, the runs, the namespaces, the JSON and plot.

    sudo python -m benchmarks.chaos_learning --quick --out /tmp/churn.json     # the plot goes to /tmp/churn.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.chaos.network import Network
from benchmarks.chaos_learning.report import compare, plot, show
from benchmarks.chaos_learning.run import run_once
from benchmarks.chaos_learning.swarm import KILL_EVERY_S, RESTART_AFTER_S, node_settings
from benchmarks.common import output_path, provenance, shown, write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import benchmarks.chaos_learning

    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos_learning", description=benchmarks.chaos_learning.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="2 nodes, 10 s, the baseline run only (< 1 minute)")
    parser.add_argument("--quick", action="store_true", help="4 nodes, ~3 minutes per run")
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="measured duration of each run")
    parser.add_argument("--window", type=float, default=3.0, help="transport.window_seconds")
    parser.add_argument("--runs", default=None, help="comma-separated (default baseline,churn; smoke: baseline)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON results; the plot goes next to it (.png) (default benchmarks/results/chaos_learning/"
                             "full.json; --smoke and --quick: runs/benchmarks/chaos_learning/)")
    parser.add_argument("--loopback", action="store_true", help="no namespaces even as root (a quick local check)")
    args = parser.parse_args(argv)
    args.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    args.nodes = args.nodes or {"smoke": 2, "quick": 4, "full": 8}[args.mode]
    args.seconds = args.seconds or {"smoke": 10.0, "quick": 180.0, "full": 600.0}[args.mode]
    args.runs = args.runs or ("baseline" if args.smoke else "baseline,churn")
    args.out = output_path("chaos_learning", f"{args.mode}.json", full=args.mode == "full", out=args.out)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    n, seconds, meta = args.nodes, args.seconds, provenance()
    work = Path(os.environ.get("CHAOS_LOG_DIR", "/tmp")) / f"sapo-chaos-learning-{os.getpid()}"
    net = Network(n)
    results: dict[str, Any] = {"mode": args.mode, "nodes": n, "seconds": seconds,
                               "window_s": args.window, "kill_every_s": KILL_EVERY_S, "restart_after_s": RESTART_AFTER_S,
                               "settings": node_settings(n, args.window), "work_dir": str(work), "runs": {},
                               "time": time.time(), "load_avg_start": os.getloadavg()}
    t_start = time.time()
    try:
        if args.loopback:
            net.fallback = "loopback (--loopback)"
        elif os.geteuid() == 0:
            net.setup()
        else:
            net.fallback = "loopback (not root: no network namespaces)"
        results["network"] = net.fallback or "one namespace per node, veth to a bridge, 10.77.0.0/24"
        for name in args.runs.split(","):
            results["runs"][name] = run_once(name, net, n, seconds, args.window, work / name, churn=name == "churn", seed=0)
    finally:
        results["left_over_namespaces"] = net.teardown() if not net.fallback else []
        results.setdefault("network", net.fallback)
        results["wall_s"] = round(time.time() - t_start, 1)
        results["load_avg_end"] = os.getloadavg()
    if {"baseline", "churn"} <= set(results["runs"]):
        results["comparison"] = compare(results["runs"]["baseline"], results["runs"]["churn"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        results["plot"] = plot(results["runs"]["baseline"], results["runs"]["churn"], args.out.with_suffix(".png"))
    show(results)
    write_json(args.out, results, meta=meta)
    print(f"wall {results['wall_s']} s; namespaces left: {results['left_over_namespaces'] or 'none'}; wrote {shown(args.out)}")
