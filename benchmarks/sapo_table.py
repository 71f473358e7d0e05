"""SAPO's headline table on CPU: I local / J external splits, isolation controls and sampling strategies.

    python benchmarks/sapo_table.py --quick        # sparse, 4 nodes, 16/0 vs 8/8, 2 seeds (< 5 min, 2 cores)
    python benchmarks/sapo_table.py                # every block of sapo_grid.full_blocks (resumable)
    python benchmarks/sapo_table.py --report-only  # rebuild table, JSON and PNG from finished runs
    python benchmarks/sapo_table.py --pilot        # the 2-seed pilots that did not make the table
    python benchmarks/sapo_table.py --fill         # today's packages (own log): sparser-8 over 150 rounds with the
                                                   # fill and its variants, and the rows generating 8 groups a
                                                   # round; the sparse-4 core over 60 rounds; the fill at
                                                   # two and three optimizer steps per round

What it measures, per configuration (one row of the paper's table): cumulative reward summed over
nodes and rounds (reward = mean over a node's own local completions), its paired ratio over
isolation (16/0) with a bootstrap 95% interval over seeds, informative groups kept per update (the
mechanism: zero-advantage groups are dropped), CPU-seconds of all nodes' `Node.step` and reward per
CPU-second (with its own paired ratio). Strategy rows are also compared with 8/8 uniform.
Every run is the node's real round loop over `MemoryTransport` (see `benchmarks/sapo_sim.py`).

Runs go two at a time (one torch thread each) and are appended to `results/sapo_table.runs.jsonl`
as they finish, so a long run can be resumed or reported early. Outputs: `results/sapo_table.json`
and `results/sapo_table.png` (`.quick.` in their names for --quick).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.sapo_grid import Block, fill_blocks, full_blocks, pilot_blocks, quick_blocks, tiny_blocks  # noqa: E402
from benchmarks.sapo_report import build_report, write_outputs  # noqa: E402
from benchmarks.sapo_sim import RunSpec, run_swarm  # noqa: E402
from node.algorithms import GRPOAlgorithm  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def spec_key(spec: RunSpec) -> str:
    fields = asdict(spec)
    fields["regime"] = spec.regime.name
    if spec.iterations == 1:  # the field came later: runs logged before it keep their keys
        del fields["iterations"]
    return json.dumps(fields, sort_keys=True)


def _run_one(job: tuple[str, str, RunSpec]) -> dict[str, Any]:
    block, label, spec = job
    start_wall, start_cpu = time.time(), time.process_time()
    result = run_swarm(spec)
    return {"key": spec_key(spec), "block": block, "label": label, "seed": spec.seed,
            "rewards": result.rewards, "common": result.common, "kept": result.kept, "kept_local": result.kept_local,
            "external_candidates": result.external_candidates, "local_i": result.local_i, "cpu": result.cpu,
            "rejections": result.rejections, "skips_inert_rows": GRPOAlgorithm.zero_advantage_rows_are_inert,
            "cpu_s": result.cpu_s, "process_cpu_s": time.process_time() - start_cpu,
            "wall_s": time.time() - start_wall, "env": library_versions()}


def library_versions() -> dict[str, str]:
    """What a run's numbers depend on beyond the code: the same spec and seed under another transformers or
    tokenizers release builds another tiny model (rows logged before this field came from an earlier set)."""
    import platform
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{name: version(name) for name in ("torch", "transformers", "tokenizers", "reasoning_gym", "numpy")}}


def jobs_of(blocks: list[Block]) -> list[tuple[str, str, RunSpec]]:
    """Priority configurations and seeds of every block first (see `Block.priority_seeds`), seed-major:
    a run cut short still leaves complete paired comparisons in every block."""
    jobs = [(b.tier(ci, pos), bi, pos, ci, b.name, c.label, spec)
            for bi, b in enumerate(blocks) for pos, seed in enumerate(b.seeds)
            for ci, (c, spec) in enumerate(zip(b.configs, b.specs(seed)))]
    return [(name, label, spec) for *_, name, label, spec in sorted(jobs, key=lambda j: j[:4])]


def load_runs(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return {row["key"]: row for row in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def prebuild_models(blocks: list[Block]) -> None:
    """Build (or find cached) every warm-started preset before forking workers."""
    from node.models import ensure_model
    from benchmarks.sapo_sim import node_config

    seen = set()
    for block in blocks:
        spec = block.specs(block.seeds[0])[0]
        for k in range(spec.n_nodes):
            cfg = node_config(spec, k).model
            if (cfg.name, block.regime.name) not in seen:
                seen.add((cfg.name, block.regime.name))
                ensure_model(cfg, block.regime.warm_families, seed=0)


def run_jobs(jobs: list[tuple[str, str, RunSpec]], cache: Path, workers: int, resume: bool) -> dict[str, dict[str, Any]]:
    done = load_runs(cache) if resume else {}
    pending: dict[str, tuple[str, str, RunSpec]] = {}
    for job in jobs:  # each spec runs once (blocks may share rows), in the order of its first job
        if spec_key(job[2]) not in done:
            pending.setdefault(spec_key(job[2]), job)
    todo = list(pending.values())
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already done, {len(todo)} to run on {workers} workers", flush=True)
    with cache.open("a" if resume else "w") as sink, mp.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        for row in pool.imap_unordered(_run_one, todo):
            done[row["key"]] = row
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            print(f"  {row['block']:<20} {row['label']:<26} seed {row['seed']}: cum {sum(map(sum, row['common'])):7.1f}"
                  f"  CPU {row['cpu_s']:6.1f} s  wall {row['wall_s']:6.1f} s", flush=True)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sparse, 4 nodes, 16/0 vs 8/8, 2 seeds")
    parser.add_argument("--pilot", action="store_true", help="the 2-seed pilots of sapo_grid.pilot_blocks")
    parser.add_argument("--fill", action="store_true",
                        help="under today's packages (own run log): sparser-8 over 150 rounds, isolation, the fill "
                             "and its variants, the rows generating 8 groups a round; the sparse-4 core over 60 "
                             "rounds; the fill to 24 at two and three optimizer steps per round; isolation against "
                             "the 2-step fill over 300 rounds")
    parser.add_argument("--tiny", action="store_true", help="2 nodes, 3 rounds, 1 seed (the smoke test)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per run (default 60; quick 50)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds of the main block (default 10; quick 2)")
    parser.add_argument("--blocks", nargs="*", default=None, help="only these block names")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true", help="no new runs: report what the run log holds")
    parser.add_argument("--fresh", action="store_true", help="ignore the run log of earlier invocations")
    parser.add_argument("--dht", action="store_true", help="8/8 over the real DHT on loopback vs the simulation")
    args = parser.parse_args()
    if args.dht:
        return dht_main(args)

    runs_stem = None
    if args.pilot:
        blocks, stem, runs_stem = pilot_blocks(args.rounds or 60), "sapo_table.pilot", "sapo_table"
    elif args.fill:
        blocks, stem = fill_blocks(args.seeds or 10), "sapo_table.fill"
    elif args.tiny:
        blocks, stem = tiny_blocks(), "sapo_table.tiny"
    elif args.quick:
        blocks, stem = quick_blocks(args.rounds or 50, args.seeds or 2), "sapo_table.quick"
    else:
        blocks, stem = full_blocks(args.rounds or 60, args.seeds or 10), "sapo_table"
    if args.blocks:
        blocks = [b for b in blocks if b.name in args.blocks]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    cache = args.out_dir / f"{runs_stem or stem}.runs.jsonl"
    start_wall, start_cpu = time.time(), _cpu_all()
    if args.report_only:
        runs = load_runs(cache)
    else:
        prebuild_models(blocks)
        runs = run_jobs(jobs_of(blocks), cache, args.workers, resume=not (args.fresh or args.quick or args.tiny))
    report = build_report(blocks, runs)
    report["invocation"] = {"argv": sys.argv[1:], "wall_s": round(time.time() - start_wall, 1),
                            "cpu_s_all_processes": round(_cpu_all() - start_cpu, 1)}
    print(write_outputs(report, blocks, runs, args.out_dir / f"{stem}.json", args.out_dir / f"{stem}.png"))


def dht_main(args: argparse.Namespace) -> None:
    """8/8 uniform over hivemind (one process per node) against the simulated 8/8 and 16/0, same seeds."""
    from benchmarks.sapo_dht import run_dht
    from benchmarks.sapo_grid import ISOLATION, UNIFORM_88
    from benchmarks.sapo_report import dht_comparison

    block = replace(full_blocks(args.rounds or 60)[0], seeds=tuple(range(args.seeds or 2)), configs=(ISOLATION, UNIFORM_88))
    prebuild_models([block])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    sim = run_jobs(jobs_of([block]), args.out_dir / "sapo_table.runs.jsonl", args.workers, resume=True)
    cache = args.out_dir / "sapo_table.dht.runs.jsonl"
    dht = load_runs(cache)
    for seed in block.seeds:
        spec = block.specs(seed)[1]
        if spec_key(spec) not in dht:
            row = {"key": spec_key(spec), "seed": seed, **run_dht(spec)}
            with cache.open("a") as sink:
                sink.write(json.dumps(row) + "\n")
            dht[row["key"]] = row
            print(f"  DHT 8/8 seed {seed}: cum {sum(map(sum, row['common'])):.1f} CPU {row['cpu_s']:.1f} s wall {row['wall_s']:.0f} s")
    report = dht_comparison(block, sim, dht)
    (args.out_dir / "sapo_table.dht.json").write_text(json.dumps(report, indent=1))
    print(report["table"])


def _cpu_all() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
