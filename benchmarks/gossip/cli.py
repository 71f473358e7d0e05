"""The gossip benchmark's command line: sizes, modes, and where the result goes.

    python -m benchmarks.gossip --smoke --out /tmp/gossip.json

The result is written once, at the end (a crashed run leaves the committed one alone); progress after
each swarm size goes to ``runs/benchmarks/gossip/in_progress.json``. ``--append`` keeps the rows of
the other swarm sizes already in ``--out`` (a long run split into one command per size).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import SCRATCH, output_path, provenance, shown, write_json
from benchmarks.gossip.driver import SIZES, bench_n
from benchmarks.gossip.report import COLUMNS, J, SOLO_COLUMNS, format_ratio, ratios


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import benchmarks.gossip

    parser = argparse.ArgumentParser(prog="python -m benchmarks.gossip", description=benchmarks.gossip.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="N=4, 5KB, 1 round, with --solo (< 1 minute)")
    parser.add_argument("--quick", action="store_true", help="N in {4, 8}, 5KB and 100KB, 3 rounds")
    parser.add_argument("--nodes", type=int, nargs="*", help="swarm sizes (default 4 8 16 32)")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), help="batch sizes (default all)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--solo", action="store_true", help="also measure one collector at a time (the scale figures)")
    parser.add_argument("--append", action="store_true", help="keep the other swarm sizes' rows already in --out")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON result (default benchmarks/results/gossip/full.json; --smoke/--quick: runs/benchmarks/gossip/)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.nodes, args.sizes, args.rounds, args.solo = args.nodes or [4], args.sizes or ["5KB"], args.rounds or 1, True
    args.nodes = args.nodes or ([4, 8] if args.quick else [4, 8, 16, 32])
    args.sizes = args.sizes or (["5KB", "100KB"] if args.quick else list(SIZES))
    args.rounds = args.rounds or (3 if args.quick else 5)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    args.out = output_path("gossip", f"{mode}.json", full=mode == "full", out=args.out)
    return args


def earlier(path: Path, replaced: list[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows of the swarm sizes not in ``replaced``, provenance of the invocations that measured them) in ``path``."""
    if not path.exists():
        return [], []
    data = json.loads(path.read_text())
    rows = [r for r in data.get("results", []) if r["n"] not in replaced]
    runs = data.get("meta", {}).get("invocations", [])
    return rows, [run for run in runs if run] if rows else []


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print("| N | batch | pattern | " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * (3 + len(COLUMNS)))
    if args.solo:
        print("| N | batch | pattern | solo | " + " | ".join(SOLO_COLUMNS) + " |  (rows marked solo)")
    here = provenance()
    kept, invocations = earlier(args.out, args.nodes) if args.append else ([], [])
    meta = {"host": "N processes on 2 cores (shared)", "rounds": args.rounds, "J": J, "failed": [],
            "invocations": [*invocations, {**{k: here[k] for k in ("commit", "command", "date")}, "nodes": args.nodes}]}
    results: list[dict[str, Any]] = list(kept)
    for n in args.nodes:
        try:
            results += bench_n(n, args.sizes, args.rounds, args.solo)
        except RuntimeError as exc:  # a node died (e.g. killed by the host): say so, keep the other sizes
            meta["failed"].append(f"N={n}: {exc}")
            print(f"# N={n} FAILED: {exc}", flush=True)
        write_json(SCRATCH / "gossip" / "in_progress.json", {"meta": meta, "results": results}, indent=2, meta=here)
    rat = ratios(results)  # raises ZeroBaseline on a broken baseline: nothing is written to --out then
    for r in rat:
        print(format_ratio(r))
    print(f"# wrote {shown(write_json(args.out, {'meta': meta, 'results': results, 'ratios': rat}, indent=2, meta=here))}")
