"""One tiny node alone (silo) on one task family: does GRPO raise its reward?

    python -m benchmarks.learning [--rounds 100] [--model tiny-0.5m] [--seed 0]
    python -m benchmarks.learning --smoke      # 2 rounds (CI)

Runs the real node (tasks, policy, rewards, sampler, GRPO, round loop) with no transport, prints the
reward curve in blocks of 10 rounds, compares the last block with the first (the baseline in the same
run), writes `benchmarks/results/learning/full.json` and `full.png`. Any other settings than the
defaults (--smoke, --rounds, --model, --seed) write to `runs/benchmarks/learning/` unless --out says
otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import output_path, provenance, shown, write_json
from node.metrics import NullMetrics
from protocol import Identity
from swarm.config import RunConfig
from swarm.runner import build_node

DEFAULTS = {"rounds": 100, "model": "tiny-0.5m", "seed": 0}
"""The settings of the committed full result."""


class Rows(NullMetrics):
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def log(self, row: dict) -> None:
        self.rows.append(row)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="default 100; smoke 2")
    parser.add_argument("--model", default=DEFAULTS["model"])
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--smoke", action="store_true", help="2 rounds, written to runs/benchmarks/learning/")
    parser.add_argument("--out", type=Path, default=None, help="JSON result; the plot goes next to it (.png)")
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.smoke else DEFAULTS["rounds"])
    full = not args.smoke and {k: getattr(args, k) for k in DEFAULTS} == DEFAULTS
    out = output_path("learning", "full.json" if full else "smoke.json" if args.smoke else "run.json", full=full, out=args.out)
    meta = provenance()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    config = RunConfig.model_validate({
        "node": {"model": {"name": args.model, "threads": 1},
                 "sampler": {"local_i": 16, "external_j": 0, "completions_l": 16},
                 "round": {"rounds": args.rounds, "seed": args.seed, "checkpoint_every": 0}},
        "transport": {"type": "none"},
    })
    node = build_node(config, Path(tempfile.mkdtemp(prefix="sapo-learning-")), Identity.from_seed(b"learning-benchmark"))
    node.metrics = Rows()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(node.run())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rewards = [r["reward_local"] for r in node.metrics.rows]
    blocks = [sum(rewards[i:i + 10]) / len(rewards[i:i + 10]) for i in range(0, len(rewards), 10)]
    print(f"{'rounds':<12}{'mean reward':>12}")
    for i, value in enumerate(blocks):
        print(f"{f'{10 * i}-{min(10 * i + 9, len(rewards) - 1)}':<12}{value:>12.3f}")
    print(f"first block {blocks[0]:.3f} -> last block {blocks[-1]:.3f} "
          f"(x{blocks[-1] / max(blocks[0], 1e-9):.2f}); {cpu:.0f} CPU-s, {wall:.0f} s wall, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    write_json(out, {
        "model": args.model, "rounds": args.rounds, "seed": args.seed, "rewards": rewards, "blocks_of_10": blocks,
        "first_block": blocks[0], "last_block": blocks[-1], "cpu_s": cpu, "wall_s": wall,
    }, indent=2, meta=meta)
    plot(rewards, out.with_suffix(".png"), args.model)
    print(f"wrote {shown(out)} and its plot")


def plot(rewards: list[float], path: Path, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = 10
    smooth = [sum(rewards[max(0, i - window + 1):i + 1]) / len(rewards[max(0, i - window + 1):i + 1]) for i in range(len(rewards))]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(rewards, alpha=0.3, label="reward per round")
    ax.plot(smooth, label=f"moving average ({window})")
    ax.set(xlabel="round", ylabel="mean sampled reward", title=f"{model} alone, GRPO 16x16")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
