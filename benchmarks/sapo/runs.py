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
import time
from dataclasses import asdict
from typing import Any

from benchmarks.common import RunLog, host
from benchmarks.sapo.grid import Block
from benchmarks.sapo.sim import RunSpec, node_config, run_swarm
from node.algorithms import GRPOAlgorithm
from node.models.provenance import package_versions

Job = tuple[str, str, RunSpec]
"""(block name, configuration label, spec)."""

LATE_DEFAULTS = {"iterations": 1, "build_seed": 0, "replay_groups": 0, "peers": True, "rescore_claimed": False,
                 "train": True}
"""Spec fields added after runs were logged: at these values they stay out of the key, so old runs keep theirs."""


def spec_key(spec: RunSpec) -> str:
    fields = asdict(spec)
    fields["regime"] = spec.regime.name
    for name, default in LATE_DEFAULTS.items():
        if fields[name] == default:
            del fields[name]
    return json.dumps(fields, sort_keys=True)


def run_one(job: Job) -> dict[str, Any]:
    """One swarm run (in a worker process) as a run-log row."""
    block, label, spec = job
    start_wall, start_cpu = time.time(), time.process_time()
    result = run_swarm(spec)
    return {"key": spec_key(spec), "block": block, "label": label, "seed": spec.seed, "build": spec.build_seed,
            "rewards": result.rewards, "common": result.common, "kept": result.kept, "kept_local": result.kept_local,
            "external_candidates": result.external_candidates, "local_i": result.local_i, "cpu": result.cpu,
            "replayed": result.replayed, "age_windows": result.age_windows, "phase_s": result.phase_s,
            "rejections": result.rejections, "skips_inert_rows": GRPOAlgorithm.zero_advantage_rows_are_inert,
            "cpu_s": result.cpu_s, "process_cpu_s": time.process_time() - start_cpu,
            "wall_s": time.time() - start_wall, "env": package_versions(), "host": host(),
            "models": model_builds(spec),
            "node_configs": [node_config(spec, k).model_dump(mode="json") for k in range(spec.n_nodes)]}


def model_builds(spec: RunSpec) -> list[dict[str, Any]]:
    """The warm-started build behind each distinct model of `spec`: preset, build seed, the weights' sha256
    and the package versions that built it (`node.models.provenance`). Rows logged before this field carry
    only `env` (the versions the run ran under)."""
    from node.models import build_info, ensure_model

    out, seen = [], set()
    for k in range(spec.n_nodes):
        model = node_config(spec, k).model
        if (model.name, model.build_seed) not in seen:
            seen.add((model.name, model.build_seed))
            info = build_info(ensure_model(model, model.warm_start_families, model.build_seed))
            out.append({"name": model.name, "build_seed": model.build_seed, "warm_start_steps": model.warm_start_steps,
                        "weights_sha256": info["weights"], "versions": info["versions"]})
    return out


def jobs_of(blocks: list[Block]) -> list[Job]:
    """Priority configurations and seeds of every block first (see `Block.priority_seeds`), seed-major:
    a run cut short still leaves complete paired comparisons in every block."""
    jobs = [(b.order(bi, ci, pos, bp), b.name, c.label, spec)
            for bi, b in enumerate(blocks) for pos, seed in enumerate(b.seeds) for bp, build in enumerate(b.builds)
            for ci, (c, spec) in enumerate(zip(b.configs, b.specs(seed, build)))]
    return [(name, label, spec) for _, name, label, spec in sorted(jobs, key=lambda j: j[0])]


def prebuild_models(blocks: list[Block]) -> None:
    """Build (or find cached) every warm-started preset before forking workers."""
    from node.models import ensure_model

    seen = set()
    for block in blocks:
        for build in block.builds:
            spec = block.specs(block.seeds[0], build)[0]
            for k in range(spec.n_nodes):
                cfg = node_config(spec, k).model
                if (cfg.name, block.regime.name, build) not in seen:
                    seen.add((cfg.name, block.regime.name, build))
                    ensure_model(cfg, cfg.warm_start_families, seed=cfg.build_seed)


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
