"""Scale benchmark: per-node cost per round from 4 to 32 real processes, and a model of it up to 10,000 peers.

    python -m benchmarks.scale --smoke                       # 4 nodes, 2 rounds, both patterns (< 1 min), to runs/benchmarks/scale/
    python -m benchmarks.scale --nodes 8 --append            # one N per command (32 processes on 2 cores is heavy)
    python -m benchmarks.scale --model-only                  # refit the model, redraw the plot, print the tables

Measured (`benchmarks.scale.driver`): N node processes on loopback (real hivemind DHT), one window per round,
one collector at a time, push on: per node per round, bytes read and written, CPU (python plus p2pd) and
RPCs, split into records, parts, announcements and pushes; ours and the reference pattern (plain DHT nodes
without our validator, `benchmarks.scale.ref_node`) in the same run. Modeled (`benchmarks.scale.model`): the
same quantities as a function of N, from per-operation costs measured at the calibration sizes and the DHT's
hop count, checked against the measured sizes it was not fitted on. Results: JSON (``--out``), a plot next to
it, and the tables on stdout. Wall times are "N processes on 2 cores": judge by bytes, CPU and ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.common import output_path, provenance, shown, write_json  # noqa: E402
from benchmarks.scale.driver import Setup, measure  # noqa: E402
from benchmarks.scale.report import print_tables, write_plot  # noqa: E402
from benchmarks.scale.model import build_model  # noqa: E402

DEFAULT_NAME = "scale.json"


def run(args: argparse.Namespace) -> Path:
    out = output_path("scale", DEFAULT_NAME, full=not args.quick, out=args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if (args.append or args.model_only) and out.exists() else {"measured": [], "runs": []}
    if not args.model_only:
        ns = args.nodes or ([4] if args.quick else [4, 8, 16, 32])
        rounds, warmup, window = (2, 1, 3.0) if args.quick else (args.rounds, 2, args.window)
        for n in ns:
            for pattern in args.patterns:
                setup = Setup(n=n, pattern=pattern, size=args.size, rounds=rounds, warmup=warmup, window_s=window)
                row = measure(setup, log_dir=args.logs)
                data["measured"] = [r for r in data["measured"] if (r["n"], r["pattern"]) != (n, pattern)] + [row]
                print(f"# measured N={n} {pattern}: {row['read'] / 1024:.0f} KiB read, {row['cpu_s'] * 1000:.0f} ms CPU per node "
                      f"per round; started in {row['started_s']:.0f} s", flush=True)
                write_json(out, data)  # after every swarm: a later failure keeps what was measured
        data["runs"].append(provenance())
    data["measured"].sort(key=lambda r: (r["pattern"], r["n"]))
    data["model"] = build_model(data["measured"], calibrate_on=args.calibrate_on)
    write_json(out, data)
    print_tables(data)
    plot = write_plot(data, out.with_suffix(".png"))
    print(f"# wrote {shown(out)}" + (f" and {shown(plot)}" if plot else ""))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", "--smoke", action="store_true", dest="quick",
                        help="4 nodes, 1 warm-up and 2 rounds of 3 s, both patterns (< 1 min); to runs/benchmarks/scale/")
    parser.add_argument("--nodes", type=int, nargs="*", help="swarm sizes (default 4 8 16 32)")
    parser.add_argument("--patterns", nargs="*", default=["ours", "reference"], choices=["ours", "reference"])
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per swarm (after 2 warm-up rounds)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window, one round per window")
    parser.add_argument("--size", type=int, default=32_000, help="completion characters per batch (32 KB: one part)")
    parser.add_argument("--calibrate-on", type=int, nargs="*", default=[4, 8], help="swarm sizes the model is fitted on")
    parser.add_argument("--append", action="store_true", help="merge into --out (replacing the same N and pattern)")
    parser.add_argument("--model-only", action="store_true", help="no measuring: refit the model and redraw from --out")
    parser.add_argument("--out", type=Path, default=None, help="JSON (default benchmarks/results/scale/scale.json; --smoke: runs/benchmarks/scale/)")
    parser.add_argument("--logs", type=Path, default=None, help="folder for the node processes' logs")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    import logging

    logging.basicConfig(level="WARNING", stream=sys.stderr)
    main()
