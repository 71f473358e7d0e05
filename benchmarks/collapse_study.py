"""What makes a node with the `swarm join` defaults lose its reward after hundreds of rounds?

    python -m benchmarks.collapse_study --arms base3,silo --seeds 0 1 2   # run (two at a time, resumable)
    python -m benchmarks.collapse_study --report                           # table + results/collapse_study/collapse_study.json
    python -m benchmarks.collapse_study --smoke                            # CI: one tiny silo arm, 12 rounds (< 1 min)

Each arm changes ONE factor of the join defaults (configs/join.yaml's node section, guard off) and runs
the same seeds; every run is `benchmarks.soak.run`'s in-process swarm (the real node code path, the DHT
replaced by the in-memory sharded store). Per run: mean reward by eighths of the run, the peak of the
100-round moving average and where the run ends against it, and the entropy by eighths. Per-round logs
go to ``runs/collapse/<arm>-s<seed>.jsonl`` (``$COLLAPSE_LOGS`` to move them); ``--report`` writes
``benchmarks/results/collapse_study/collapse_study.json`` from them. ``--smoke`` runs its arm into
``runs/benchmarks/collapse_study/`` and reports only that (``--out`` names the JSON).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, SCRATCH, output_path, shown, write_json
from benchmarks.soak.run import run_in_process
from benchmarks.soak.stats import node_summary

LOGS = Path(os.environ.get("COLLAPSE_LOGS", REPO / "runs" / "collapse"))
SMOKE = ("onpolicy-silo", 12, 4)
"""--smoke: (arm, rounds, moving-average window), seed 0."""
SMALL = ["node.model.name=tiny-0.5m"]
"""tiny-0.5m: what the issue's runs used; join.yaml's tiny-6m costs 6x the CPU per round (checked separately)."""
OFF = ["node.round.rollback_on_collapse=false"]
"""The guard off: these runs look for the cause, not for the cure."""
NO_KL = ["node.algorithm.beta=0"]
"""Every arm starts from beta 0, the join default when the study ran (the KL anchor came after it: see
benchmarks/results/soak); an arm's own sets come after, so "silo-kl" still runs at 0.04."""

# Arms named "onpolicy-*" ran after the fix the study found (a node trains on the token ids it sampled); the
# others ran before it, on re-tokenized text. Each result records the commit it ran (`code`).
ARMS: dict[str, tuple[int, list[str]]] = {
    "base3": (3, SMALL + OFF),
    "silo": (1, SMALL + OFF),
    "silo-lr1e-4": (1, SMALL + OFF + ["node.algorithm.lr=1e-4"]),
    "silo-lr6e-4": (1, SMALL + OFF + ["node.algorithm.lr=6e-4"]),
    "silo-kl": (1, SMALL + OFF + ["node.algorithm.beta=0.04"]),
    "silo-drgrpo": (1, SMALL + OFF + ["node.algorithm.type=dr_grpo", "node.algorithm.options={max_completion_tokens: 7}"]),
    "base3-positive": (3, SMALL + OFF + ["node.algorithm.external_advantage=positive"]),
    "base3-lr1e-4": (3, SMALL + OFF + ["node.algorithm.lr=1e-4"]),
    "base3-pool64": (3, SMALL + OFF + ["node.sampler.max_external_pool=64"]),
    "onpolicy-silo": (1, SMALL + OFF),
    "onpolicy-base3": (3, SMALL + OFF),
    "onpolicy-silo-6m": (1, OFF),
    "silo-6m": (1, OFF),
    "silo-6m-lr1e-4": (1, OFF + ["node.algorithm.lr=1e-4"]),
    "onpolicy-silo-6m-lr1e-4": (1, OFF + ["node.algorithm.lr=1e-4"]),
    "onpolicy-silo-6m-lr5e-5": (1, OFF + ["node.algorithm.lr=5e-5"]),
}
CODE = (REPO / "COMMIT").read_text().strip() if (REPO / "COMMIT").exists() else "worktree"
"""The commit a snapshot of the code was taken at (runs go from a copy, so edits never reach a running study)."""


def _path(logs: Path, arm: str, seed: int, suffix: str) -> Path:
    return logs / f"{arm}-s{seed}.{suffix}"


def _job(job: tuple[str, int, int, int, str]) -> str:
    arm, seed, rounds, window, logs = job
    nodes, sets = ARMS[arm][0], NO_KL + ARMS[arm][1]
    log = _path(Path(logs), arm, seed, "jsonl")
    log.unlink(missing_ok=True)
    result = run_in_process(nodes, rounds, seed, sets, log)
    result["summary"] = [node_summary(r, e, window) for r, e in zip(result["reward"], result["entropy"])]
    result["arm"], result["code"] = arm, CODE
    _path(Path(logs), arm, seed, "json").write_text(json.dumps(result))
    return f"{arm} s{seed}: {[s['eighths'] for s in result['summary']]}"


def run(arms: list[str], seeds: list[int], rounds: int, window: int, procs: int, logs: Path = LOGS) -> None:
    """Every arm under every seed (an arm given as ``arm:seed`` runs that seed only), in the order given."""
    logs.mkdir(parents=True, exist_ok=True)
    pairs = [a.split(":") for a in arms]  # arm, arm:seed or arm:seed:rounds
    order = [(p[0], int(p[1]), int(p[2]) if len(p) > 2 else rounds) for p in pairs if len(p) > 1]
    order = order or [(a, s, rounds) for s in seeds for a in arms]
    jobs = [(a, s, n, window, str(logs)) for a, s, n in order if not _path(logs, a, s, "json").exists()]
    if procs <= 1:
        for job in jobs:
            print(_job(job), flush=True)
        return
    with mp.get_context("spawn").Pool(procs) as pool:
        for line in pool.imap_unordered(_job, jobs):
            print(line, flush=True)


def from_log(path: Path, window: int) -> dict:
    """A run's result rebuilt from its per-round log (a run stopped before it wrote its summary)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    nodes = sorted({r["node"] for r in rows})
    rewards = [[r["reward_local"] for r in rows if r["node"] == k] for k in nodes]
    entropy = [[r["entropy"] for r in rows if r["node"] == k] for k in nodes]
    arm, seed = path.stem.rsplit("-s", 1)
    return {"arm": arm, "seed": int(seed), "rounds": len(rewards[0]), "sets": ARMS.get(arm, (0, []))[1], "cpu_s": 0,
            "code": "before the fix" if not arm.startswith("onpolicy") else "?",
            "summary": [node_summary(r, e, window) for r, e in zip(rewards, entropy)]}


def report(out: Path, window: int = 100, logs: Path = LOGS) -> dict[str, Any]:
    """Table of every run in `logs` (finished or not), written to `out` under its provenance."""
    rows = []
    for path in sorted(logs.glob("*.jsonl")):
        if path.stem.startswith("diag"):
            continue
        done = path.with_suffix(".json")
        result = json.loads(done.read_text()) if done.exists() else from_log(path, window)
        for k, s in enumerate(result["summary"]):
            rows.append({"arm": result["arm"], "seed": result["seed"], "node": k, "rounds": result["rounds"],
                         "sets": result["sets"], "code": result.get("code", "before the fix"), **s,
                         "cpu_s": round(result["cpu_s"])})
    print(f"{'arm':26} {'seed':>4} {'node':>4} {'rounds':>6}  reward by eighths of the run{' ' * 13} peak MA@round  "
          f"end/peak  entropy 1st->8th eighth  code")
    for r in rows:
        ent = f"{r['entropy_eighths'][0]:.2f}->{r['entropy_eighths'][-1]:.2f}" if r["entropy_eighths"] else "-"
        print(f"{r['arm']:26} {r['seed']:>4} {r['node']:>4} {r['rounds']:>6}  {' '.join(f'{x:.2f}' for x in r['eighths'])}  "
              f"{r['peak_ma']:.3f}@{r['peak_round']:<5} {r['end_over_peak']:8.2f}  {ent:>22}  {r['code']}")
    result = {"runs": rows, "arms": {k: {"nodes": n, "sets": s} for k, (n, s) in ARMS.items()}}
    write_json(out, result)
    print(f"wrote {shown(out)}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.collapse_study", description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="base3,silo")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=1200)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="one tiny silo arm, 12 rounds, to runs/benchmarks/collapse_study/")
    parser.add_argument("--out", type=Path, default=None,
                        help="--report/--smoke JSON (default benchmarks/results/collapse_study/collapse_study.json)")
    args = parser.parse_args(argv)
    if args.smoke:
        arm, rounds, window = SMOKE
        logs = SCRATCH / "collapse_study" / "logs"
        _path(logs, arm, 0, "json").unlink(missing_ok=True)
        run([arm], [0], rounds, window, procs=1, logs=logs)
        report(output_path("collapse_study", "smoke.json", full=False, out=args.out), window, logs)
        return
    if args.report:
        report(output_path("collapse_study", "collapse_study.json", full=True, out=args.out), args.window)
        return
    run(args.arms.split(","), args.seeds, args.rounds, args.window, args.procs)


if __name__ == "__main__":
    main()
