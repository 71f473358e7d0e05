"""Codec throughput: encode+sign and verify+decode of a 64-rollout batch (~1 KB each) against plain
`json` without signatures, in the same run.

    python benchmarks/codec.py [--repeats 200]

Prints a table and the ratios; writes benchmarks/results/codec.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from protocol import Completion, Identity, RecordVerifier, RolloutBatch, RolloutGroup, TaskRef, seal

RESULTS = Path(__file__).parent / "results" / "codec.json"


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"seconds": rows, "bytes": size, "ratios": ratios,
                                   "rollouts": batch.num_rollouts}, indent=2))


if __name__ == "__main__":
    main()
