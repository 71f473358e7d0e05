"""Run the poisoning benchmark: `python -m benchmarks.poison [--smoke | --quick | --report-only | --tiers 0 1 ...]`.

    .venv/bin/python -m benchmarks.poison --smoke          # CI: 8 nodes, 3 rounds, 1 seed, 3 arms (< 1 min per arm)
    .venv/bin/python -m benchmarks.poison --quick          # the same 3 arms over 12 rounds
    .venv/bin/python -m benchmarks.poison --tiers 0 1      # the pre-registered grid's first tiers (resumable)
    .venv/bin/python -m benchmarks.poison --report-only    # table, JSON and plot from the run log so far

Runs go `--workers` at a time (default 2, one torch thread each), niced by the caller, and each finished run is
appended to the grid's run log (`benchmarks/results/poison/grid.runs.jsonl`, gzipped when the invocation ends;
`benchmarks.common.RunLog`), so an interrupted grid continues where it stopped. `--smoke` and `--quick` write to
`runs/benchmarks/poison/` (or beside `--out`) with a fresh log.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.common import RunLog, output_path, provenance, shown  # noqa: E402
from benchmarks.poison.grid import Block, full_blocks, jobs_of, quick_blocks, spec_key  # noqa: E402
from benchmarks.poison.report import build_report, write_outputs  # noqa: E402
from benchmarks.poison.swarm import PoisonSpec, run_poisoned  # noqa: E402


def _run_one(job: tuple[str, str, PoisonSpec]) -> dict[str, Any]:
    block, label, spec = job
    start_wall, start_cpu = time.time(), time.process_time()
    try:
        result = run_poisoned(spec)
    except Exception:  # one broken run must not stop a grid of hours; it is reported and not logged as done
        return {"key": spec_key(spec), "block": block, "label": label, "seed": spec.seed, "error": traceback.format_exc()}
    return {"key": spec_key(spec), "block": block, "label": label, "seed": spec.seed, **result,
            "process_cpu_s": round(time.process_time() - start_cpu, 2), "wall_s": round(time.time() - start_wall, 1),
            "env": library_versions()}


def library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{name: version(name) for name in ("torch", "transformers", "tokenizers", "reasoning_gym")}}


def prebuild_models(blocks: list[Block]) -> None:
    """Build (or find cached) every preset before forking workers."""
    from benchmarks.poison.swarm import TESTNET, config_of
    from node.models import ensure_model

    for name in sorted({m for b in blocks for a in b.arms for m in a.models}):
        spec = PoisonSpec(models=(name,), rounds=1)
        ensure_model(config_of(spec, 0).model, TESTNET.warm_families, seed=0)


def run_jobs(blocks: list[Block], log: RunLog, workers: int) -> dict[str, dict[str, Any]]:
    done = log.load()
    todo: dict[str, tuple[str, str, PoisonSpec]] = {}
    for block, arm, spec in jobs_of(blocks):
        if spec_key(spec) not in done:
            todo.setdefault(spec_key(spec), (block, arm.label, spec))
    print(f"{len(done)} runs already logged, {len(todo)} to run on {workers} workers", flush=True)
    with mp.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        for row in pool.imap_unordered(_run_one, list(todo.values())):
            if "error" in row:
                print(f"  {row['block']:<20} {row['label']:<40} seed {row['seed']}: FAILED\n{row['error']}", flush=True)
                continue
            done[row["key"]] = row
            log.append(row)
            print(f"  {row['block']:<20} {row['label']:<40} seed {row['seed']}: CPU {row['process_cpu_s']:7.1f} s"
                  f"  wall {row['wall_s']:7.1f} s", flush=True)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.poison", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="control and b_prefix, 8 nodes, 3 rounds, 1 worker")
    parser.add_argument("--quick", action="store_true", help="8 nodes, 12 rounds, 1 seed: control and b_prefix")
    parser.add_argument("--tiers", type=int, nargs="*", default=None, help="only these tiers of the grid")
    parser.add_argument("--blocks", nargs="*", default=None, help="only these block names")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None,
                        help="the report's JSON (default benchmarks/results/poison/grid.json; --smoke/--quick: runs/benchmarks/poison/)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()

    short = args.smoke or args.quick
    rounds = args.rounds or (3 if args.smoke else 12 if args.quick else 100)
    workers = 1 if args.smoke else args.workers
    out = output_path("poison", "smoke.json" if args.smoke else "quick.json" if args.quick else "grid.json",
                      full=not short, out=args.out)
    all_blocks = quick_blocks(rounds) if short else full_blocks(rounds, args.seeds)
    blocks = [b for b in all_blocks if (args.tiers is None or b.tier in args.tiers) and (not args.blocks or b.name in args.blocks)]
    log = RunLog(out.with_suffix(""))
    started = time.time()
    if short and not args.report_only:
        log.clear()  # a short run starts fresh; the grid resumes
    if not args.report_only:
        prebuild_models(blocks)
        run_jobs(blocks, log, workers)
    runs = log.load()
    if not short:
        log.compress()
    report = build_report(all_blocks, runs)
    report["provenance"] = provenance()
    report["invocation"] = {"wall_s": round(time.time() - started, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    print(write_outputs(report, out, out.with_suffix(".png")))
    print(f"# wrote {shown(out)}")


if __name__ == "__main__":
    main()
