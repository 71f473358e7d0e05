"""Running the SAPO table's swarms: one row of the run log per (configuration, seed), two workers at a time.

    runs = run_jobs(jobs_of(blocks), RunLog(folder / "table"), workers=2, resume=True)

Each spec runs once (blocks may share rows), in the order `jobs_of` gives: the priority configurations
and seeds of every block first, so a run cut short still leaves complete paired comparisons. A finished
run is appended to the log at once; the log is compressed when the invocation ends
(`benchmarks.common.RunLog`).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import time
from dataclasses import asdict
from importlib.metadata import version
from typing import Any

from benchmarks.common import RunLog
from benchmarks.sapo.grid import Block
from benchmarks.sapo.sim import RunSpec, node_config, run_swarm
from node.algorithms import GRPOAlgorithm

Job = tuple[str, str, RunSpec]
"""(block name, configuration label, spec)."""


def spec_key(spec: RunSpec) -> str:
    fields = asdict(spec)
    fields["regime"] = spec.regime.name
    if spec.iterations == 1:  # the field came later: runs logged before it keep their keys
        del fields["iterations"]
    return json.dumps(fields, sort_keys=True)


def run_one(job: Job) -> dict[str, Any]:
    """One swarm run (in a worker process) as a run-log row."""
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
    return {"python": platform.python_version(),
            **{name: version(name) for name in ("torch", "transformers", "tokenizers", "reasoning_gym", "numpy")}}


def jobs_of(blocks: list[Block]) -> list[Job]:
    """Priority configurations and seeds of every block first (see `Block.priority_seeds`), seed-major:
    a run cut short still leaves complete paired comparisons in every block."""
    jobs = [(b.tier(ci, pos), bi, pos, ci, b.name, c.label, spec)
            for bi, b in enumerate(blocks) for pos, seed in enumerate(b.seeds)
            for ci, (c, spec) in enumerate(zip(b.configs, b.specs(seed)))]
    return [(name, label, spec) for *_, name, label, spec in sorted(jobs, key=lambda j: j[:4])]


def prebuild_models(blocks: list[Block]) -> None:
    """Build (or find cached) every warm-started preset before forking workers."""
    from node.models import ensure_model

    seen = set()
    for block in blocks:
        spec = block.specs(block.seeds[0])[0]
        for k in range(spec.n_nodes):
            cfg = node_config(spec, k).model
            if (cfg.name, block.regime.name) not in seen:
                seen.add((cfg.name, block.regime.name))
                ensure_model(cfg, block.regime.warm_families, seed=0)


def run_jobs(jobs: list[Job], log: RunLog, workers: int, resume: bool) -> dict[str, dict[str, Any]]:
    """Run every job not yet in ``log`` (all of them unless ``resume``); returns the log's rows by key."""
    if not resume:
        log.clear()
    done = log.load()
    pending: dict[str, Job] = {}
    for job in jobs:  # each spec runs once (blocks may share rows), in the order of its first job
        if spec_key(job[2]) not in done:
            pending.setdefault(spec_key(job[2]), job)
    todo = list(pending.values())
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already done, {len(todo)} to run on {workers} workers", flush=True)
    try:
        with mp.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
            for row in pool.imap_unordered(run_one, todo):
                done[row["key"]] = row
                log.append(row)
                print(f"  {row['block']:<20} {row['label']:<26} seed {row['seed']}: cum {sum(map(sum, row['common'])):7.1f}"
                      f"  CPU {row['cpu_s']:6.1f} s  wall {row['wall_s']:6.1f} s", flush=True)
    finally:
        if todo:
            log.compress()
    return done
