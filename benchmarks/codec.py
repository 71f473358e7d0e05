"""Codec throughput: encode+sign and verify+decode of a 64-rollout batch (~1 KB each) against plain
`json` without signatures, in the same run.

    python -m benchmarks.codec [--repeats 200]
    python -m benchmarks.codec --smoke          # 5 repeats (CI)

Prints a table and the ratios; writes benchmarks/results/codec/full.json (--smoke: runs/benchmarks/codec/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from benchmarks.common import output_path, shown, write_json
from protocol import Completion, Identity, RecordVerifier, RolloutBatch, RolloutGroup, TaskRef, seal


def make_batch(identity: Identity) -> RolloutBatch:
    groups = tuple(
        RolloutGroup(
            task=TaskRef("chain_sum", {"min_terms": 2, "max_terms": 2}, seed=0, index=g),
            question=f"What is {g} + {g}? " * 4,
            completions=tuple(Completion(("step %d. " % c) * 120 + str(2 * g), 300, 1.0) for c in range(8)),
        )
        for g in range(8)
    )
    return RolloutBatch("bench", identity.peer_id, "tiny-6m", time.time(), 0, "b0", groups)


def timed(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.codec", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per operation (default 200; smoke 5)")
    parser.add_argument("--smoke", action="store_true", help="5 repeats, written to runs/benchmarks/codec/")
    parser.add_argument("--out", type=Path, default=None, help="JSON result (default benchmarks/results/codec/full.json)")
    args = parser.parse_args()
    args.repeats = args.repeats or (5 if args.smoke else 200)
    out = output_path("codec", "smoke.json" if args.smoke else "full.json", full=not args.smoke, out=args.out)
    me = Identity.generate()
    batch = make_batch(me)
    verifier = RecordVerifier(swarm_id="bench", swarm_secret=b"s")
    sealed = seal(batch, me, b"s")
    as_json = json.dumps(asdict(batch)).encode()
    assert verifier.verify(sealed).accepted

    rows = {
        "sapo encode+sign": timed(lambda: seal(batch, me, b"s"), args.repeats),
        "sapo verify+decode": timed(lambda: verifier.verify(sealed), args.repeats),
        "json dumps (no signature)": timed(lambda: json.dumps(asdict(batch)).encode(), args.repeats),
        "json loads (no signature)": timed(lambda: json.loads(as_json), args.repeats),
    }
    size = {"sapo": len(sealed), "json": len(as_json)}
    print(f"batch: {batch.num_rollouts} rollouts, {size['sapo']} B sealed msgpack, {size['json']} B json")
    print(f"{'operation':<28}{'median ms':>10}{'MB/s':>10}{'rollouts/s':>12}")
    for name, sec in rows.items():
        nbytes = size["sapo" if name.startswith("sapo") else "json"]
        print(f"{name:<28}{sec * 1e3:>10.3f}{nbytes / sec / 1e6:>10.1f}{batch.num_rollouts / sec:>12.0f}")
    ratios = {
        "encode+sign / json dumps": rows["sapo encode+sign"] / rows["json dumps (no signature)"],
        "verify+decode / json loads": rows["sapo verify+decode"] / rows["json loads (no signature)"],
        "bytes sapo / json": size["sapo"] / size["json"],
    }
    for name, ratio in ratios.items():
        print(f"ratio {name}: {ratio:.2f}x")
    write_json(out, {"seconds": rows, "bytes": size, "ratios": ratios, "rollouts": batch.num_rollouts,
                     "repeats": args.repeats}, indent=2)
    print(f"wrote {shown(out)}")


if __name__ == "__main__":
    main()
