"""Run the poisoning benchmark: `python -m benchmarks.poison [--smoke | --quick | --report-only | --tiers 0 1 ...]`.

    .venv/bin/python -m benchmarks.poison --smoke          # CI: 8 nodes, 3 rounds, 1 seed, 3 arms (< 1 min per arm)
    .venv/bin/python -m benchmarks.poison --quick          # the same 3 arms over 12 rounds
    .venv/bin/python -m benchmarks.poison --tiers 0 1      # the pre-registered grid's first tiers (resumable)
    .venv/bin/python -m benchmarks.poison --report-only    # table, JSON and plot from the run log so far

Runs go `--workers` at a time (default 2, one torch thread each) within a memory budget (`scheduler`: two
SmolLM2 runs never overlap on a 24 GB host), niced by the caller, and each finished run is
appended to the grid's run log (`benchmarks/results/poison/grid.runs.jsonl`, gzipped when the invocation ends;
`benchmarks.common.RunLog`), so an interrupted grid continues where it stopped. `--smoke` and `--quick` write to
`runs/benchmarks/poison/` (or beside `--out`) with a fresh log.

The grid runs on pinned model builds (`builds`): under torch's AVX2 kernels, from its own model cache, and it
refuses to start when a build's sha256 is not the pinned one. Every row records the builds it loaded; a logged
row on any other build (or an older row whose round 0 does not reproduce on the pinned builds) is moved to
`grid-other-builds.runs.jsonl.gz` before the grid resumes, so it is rerun and never analysed.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.common import RunLog, host, output_path, provenance, shown  # noqa: E402
from benchmarks.poison import builds  # noqa: E402
from benchmarks.poison.grid import Block, full_blocks, jobs_of, quick_blocks, spec_key  # noqa: E402
from benchmarks.poison.report import build_report, write_outputs  # noqa: E402
from benchmarks.poison.scheduler import job_memory_gb, memory_budget_gb, run_within_budget  # noqa: E402
from benchmarks.poison.swarm import PoisonSpec, run_poisoned  # noqa: E402


def _run_one(job: tuple[str, str, PoisonSpec, dict[str, str]]) -> dict[str, Any]:
    block, label, spec, loaded = job
    start_wall, start_cpu = time.time(), time.process_time()
    try:
        result = run_poisoned(spec)
    except Exception:  # one broken run must not stop a grid of hours; it is reported and not logged as done
        return {"key": spec_key(spec), "block": block, "label": label, "seed": spec.seed, "error": traceback.format_exc()}
    return {"key": spec_key(spec), "block": block, "label": label, "seed": spec.seed, **result,
            "process_cpu_s": round(time.process_time() - start_cpu, 2), "wall_s": round(time.time() - start_wall, 1),
            "env": library_versions(), "host": host(), "builds": {m: loaded[m] for m in sorted(set(spec.models))}}


def library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{name: version(name) for name in ("torch", "transformers", "tokenizers", "reasoning_gym")}}


def prebuild_models(blocks: list[Block], pinned: bool) -> dict[str, str]:
    """Build (or find cached) every preset before forking workers; their sha256 by preset. `pinned`: exit
    unless each is the pinned build."""
    built = builds.build_all(m for b in blocks for a in b.arms for m in a.models)
    if pinned and (wrong := builds.check_pinned(built)):
        sys.exit("benchmarks.poison: not the grid's pinned model builds; its runs would not pair with the logged "
                 "ones:\n  " + "\n  ".join(wrong) + "\nRun it with ATEN_CPU_CAPABILITY unset (the grid then uses "
                 "AVX2 kernels) and the packages pyproject.toml pins, or point --out elsewhere for a separate grid.")
    return built


def set_aside_other_builds(log: RunLog, aside: RunLog) -> None:
    """Move every logged row not on the pinned builds to `aside`; a row from before rows recorded their builds is
    kept when its round 0 reproduces on the pinned builds (`builds.round0_matches`; one round per such row)."""
    keep, moved = [], 0
    for row in log.rows():
        if "builds" not in row:
            ok = builds.round0_matches(row)
            row["builds"] = builds.pinned_for(row["spec"]["models"]) if ok else "not the pinned builds: round 0 differs"
            row["builds_check"] = f"round 0 rerun on {datetime.date.today()}: {'identical' if ok else 'different'} rewards"
        if builds.on_pinned(row):
            keep.append(row)
        else:
            aside.append(row)
            moved += 1
    if moved or any("builds_check" in row for row in keep):
        log.clear()
        for row in keep:
            log.append(row)
        log.compress()
        aside.compress()
    print(f"{len(keep)} logged runs on the pinned builds, {moved} set aside in {shown(aside.packed)}", flush=True)


def run_jobs(blocks: list[Block], log: RunLog, workers: int, built: dict[str, str]) -> dict[str, dict[str, Any]]:
    done = log.load()
    todo: dict[str, tuple[str, str, PoisonSpec, dict[str, str]]] = {}
    for block, arm, spec in jobs_of(blocks):
        if spec_key(spec) not in done:
            todo.setdefault(spec_key(spec), (block, arm.label, spec, built))
    budget = memory_budget_gb()
    print(f"{len(done)} runs already logged, {len(todo)} to run on {workers} workers within {budget:.1f} GB", flush=True)
    rows = run_within_budget(list(todo.values()), workers=workers, budget_gb=budget,
                             need_gb=lambda job: job_memory_gb(job[2].models, job[2].n_nodes),
                             describe=lambda job: {"key": spec_key(job[2]), "block": job[0], "label": job[1], "seed": job[2].seed},
                             run=_run_one)
    for row in rows:
        if "error" in row:
            print(f"  {row['block']:<20} {row['label']:<40} seed {row['seed']}: FAILED\n{row['error']}", flush=True)
            continue
        done[row["key"]] = row
        log.append(row)
        print(f"  {row['block']:<20} {row['label']:<40} seed {row['seed']}: CPU {row['process_cpu_s']:7.1f} s"
              f"  wall {row['wall_s']:7.1f} s  peak {row['max_rss_mb'] / 1024:5.1f} GB", flush=True)
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
    aside = RunLog(out.with_name(out.stem + "-other-builds"))
    started = time.time()
    if short and not args.report_only:
        log.clear()  # a short run starts fresh; the grid resumes
    if not args.report_only:
        if not short:
            builds.ensure_kernels()  # may restart this command under AVX2 kernels
            builds.use_own_cache()
        built = prebuild_models(blocks, pinned=not short)
        if not short:
            set_aside_other_builds(log, aside)
        try:
            run_jobs(blocks, log, workers, built)
        except KeyboardInterrupt:
            if not short:
                log.compress()
            sys.exit("benchmarks.poison: interrupted; every finished run is in the log and the grid resumes from it")
    runs = log.load() if short else {k: row for k, row in log.load().items() if builds.on_pinned(row)}
    if unchecked := sum("builds" not in row for row in log.rows()):
        print(f"# {unchecked} logged runs predate build records and are not analysed until a grid invocation "
              "checks them against the pinned builds", flush=True)
    if not short:
        log.compress()
    report = build_report(all_blocks, runs)
    if not short:
        report = {"builds": {"pinned": builds.PINNED, "kernels": builds.KERNELS, "runs_set_aside": sum(1 for _ in aside.rows()),
                             "set_aside_log": shown(aside.packed)}, **report}
    report["provenance"] = provenance()
    report["invocation"] = {"wall_s": round(time.time() - started, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    print(write_outputs(report, out, out.with_suffix(".png")))
    print(f"# wrote {shown(out)}")


if __name__ == "__main__":
    main()
