"""Command line of the soak benchmark (`benchmarks.soak`): run the seeds, print the table, write JSON and plot.

    python -m benchmarks.soak --smoke --out /tmp/soak.json     # JSON there, the plot beside it (soak.png)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, output_path, shown, write_json
from benchmarks.soak.run import JOIN_CONFIG, dht_check, run_in_process, soak
from benchmarks.soak.stats import PASS_FRACTION, from_log, node_summary, plot, table

SHORT = {"smoke": (16, 4), "quick": (40, 10)}
"""--smoke / --quick: (rounds, moving-average window), one seed, tiny-0.5m."""


def report(results: list[dict], args: argparse.Namespace) -> dict[str, Any]:
    """The JSON result: settings, pass/fail, and per seed the summary of every node."""
    return {"nodes": len(results[0]["reward"]), "rounds": min(len(r) for res in results for r in res["reward"]),
            "seeds": [r["seed"] for r in results], "sets": args.set, "window": args.window,
            "config": str(JOIN_CONFIG.relative_to(REPO)), "pass_fraction": PASS_FRACTION,
            "passed": all(s["passed"] for r in results for s in r["summary"]),
            "runs": [{k: r[k] for k in ("seed", "summary", "rollbacks", "wall_s", "cpu_s")} for r in results]}


def write(results: list[dict], args: argparse.Namespace) -> None:
    name = "smoke.json" if args.smoke else "quick.json" if args.quick else "soak.json"
    out = output_path("soak", name, full=not (args.smoke or args.quick), out=args.out)
    write_json(out, report(results, args))
    plot(results, args.window, out.with_suffix(".png"))
    print(f"wrote {shown(out)} and {shown(out.with_suffix('.png'))}")


def one(args: argparse.Namespace) -> None:
    """--one: a single in-process run, its series and summary (to --out if given)."""
    result = run_in_process(args.nodes, args.rounds, args.seed, args.set, Path(args.log) if args.log else None)
    result["summary"] = [node_summary(r, e, args.window) for r, e in zip(result["reward"], result["entropy"])]
    if args.out:
        write_json(args.out, result)
    for k, s in enumerate(result["summary"]):
        print(f"node{k} seed {args.seed} {' '.join(args.set) or 'join defaults'}: eighths {s['eighths']} "
              f"entropy {s['entropy_eighths']} peak {s['peak_ma']:.3f}@{s['peak_round']} end {s['end_ma']:.3f} "
              f"({s['end_over_peak']:.2f}) cpu {result['cpu_s']:.0f}s wall {result['wall_s']:.0f}s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CI: 3 tiny nodes x 16 rounds in process (< 1 min)")
    parser.add_argument("--quick", action="store_true", help="3 tiny nodes x 40 rounds in process")
    parser.add_argument("--one", action="store_true", help="one in-process run (see --seed, --rounds, --nodes, --set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--window", type=int, default=100, help="rounds in the moving average")
    parser.add_argument("--set", action="append", default=[], help="config override, e.g. node.algorithm.lr=1e-4")
    parser.add_argument("--log", help="--one: append every node-round to this JSONL file")
    parser.add_argument("--procs", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--logs", default="", help="folder for every node-round (soak-s<seed>.jsonl)")
    parser.add_argument("--dht", action="store_true", help="also run a short real 3-node testnet with the join config")
    parser.add_argument("--report", default="", help="rebuild table, JSON and plot from a --logs folder (soak-s<seed>.jsonl, "
                                                     "or .jsonl.gz as in benchmarks/results/soak/), run nothing; "
                                                     "they are written into that folder unless --out says otherwise")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON result, the plot beside it (default benchmarks/results/soak/soak.json; "
                             "--smoke/--quick: runs/benchmarks/soak/); --one: the run's series")
    args = parser.parse_args(argv)
    short = "smoke" if args.smoke else "quick" if args.quick else None
    if short:
        (args.rounds, args.window), args.seeds = SHORT[short], [0]
        args.set = ["node.model.name=tiny-0.5m", *args.set]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:
        one(args)
        return
    if args.report:
        args.out = args.out or Path(args.report) / "soak.json"  # a folder's result is rebuilt beside its logs
        results = [from_log(path, args.window) for path in sorted(Path(args.report).glob("soak-s*.jsonl*"))]
        if not results:
            raise SystemExit(f"--report {args.report}: no soak-s<seed>.jsonl(.gz) logs there")
        print(table(results))
        write(results, args)
        return
    if args.dht:
        dht_check(10, args.set)
    procs = 1 if args.smoke else args.procs
    results = soak(args.seeds, args.nodes, args.rounds, args.set, args.window, procs, args.logs)
    print(table(results))
    write(results, args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main()
