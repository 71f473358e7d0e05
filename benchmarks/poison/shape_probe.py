"""How the shape check treats a model's own honest completions: the share it would drop if a peer sent them.

    .venv/bin/python -m benchmarks.poison.shape_probe                      # SmolLM2-135M, the grid's smollm2 recipe
    .venv/bin/python -m benchmarks.poison.shape_probe --model tiny-0.5m    # the testnet recipe

The model (untrained, as a node starts) samples `--rounds` rounds of its recipe's groups on chain_sum; each group
is scored by the node's verifier and inspected by `node.defences.shape.ShapeDefence` as if a peer had sent it.
Writes the flagged share by reason, over all completions and over rewarded ones, with a few rewarded examples
(escaped), to `benchmarks/results/poison/shape-<model>.json`, on the grid's pinned builds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.common import output_path, write_json  # noqa: E402
from benchmarks.poison import builds  # noqa: E402
from benchmarks.poison.grid import Arm  # noqa: E402
from benchmarks.poison.swarm import TESTNET, config_of  # noqa: E402

RECIPE = {"smollm2-135m": "smollm2", "tiny-0.5m": "testnet", "tiny-1.5m": "testnet"}


def probe(model: str, rounds: int) -> dict[str, Any]:
    import torch

    from node.defences.shape import ShapeDefence, token_counter
    from node.policy import Policy
    from node.rewards import build_reward_fn
    from node.tasks import build_task_source
    from node.types import ScoredGroup

    torch.set_num_threads(1)
    spec = Arm("none", 0, "shape+trust", models=(model,), n_nodes=2, recipe=RECIPE[model]).spec(0, rounds)
    cfg = config_of(spec, 0)
    policy = Policy.load(cfg.model, seed=0, families=TESTNET.warm_families)
    tasks, reward = build_task_source(cfg.tasks), build_reward_fn(cfg.rewards)
    shape = ShapeDefence(token_counter(policy.tokenizer), cfg.model.max_new_tokens)
    every, rewarded, examples, full = Counter(), Counter(), [], 0
    start = time.process_time()
    for r in range(rounds):
        drawn = tasks.draw("shape-probe", r, spec.local_i)
        for task, gens in zip(drawn, policy.generate([t.question for t in drawn], spec.completions, seed=r)):
            texts = tuple(g.text for g in gens)
            scores = tuple(reward(task, texts))
            (flags,) = shape.inspect([ScoredGroup(task, texts, scores, "probe")])
            for text, score, flag in zip(texts, scores, flags):
                every[flag or "kept"] += 1
                full += score == 1.0
                if score > 0.0:
                    rewarded[flag or "kept"] += 1
                    if len(examples) < 8:
                        examples.append({"reward": round(score, 4), "flag": flag, "text": ascii(text)})
    total, paid = sum(every.values()), sum(rewarded.values())
    return {"model": model, "recipe": RECIPE[model], "rounds": rounds, "groups_per_round": spec.local_i,
            "completions": total, "rewarded": paid, "full_credit": full,
            "flagged_share": round(1 - every["kept"] / total, 4) if total else None,
            "flagged_share_of_rewarded": round(1 - rewarded["kept"] / paid, 4) if paid else None,
            "by_reason": dict(every), "by_reason_rewarded": dict(rewarded), "examples": examples,
            "cpu_s": round(time.process_time() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m", choices=sorted(RECIPE))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    builds.ensure_kernels("benchmarks.poison.shape_probe")
    builds.use_own_cache()
    if wrong := builds.check_pinned(built := builds.build_all([args.model])):
        sys.exit("benchmarks.poison.shape_probe: not the grid's pinned model builds:\n  " + "\n  ".join(wrong))
    report = {"builds": built, **probe(args.model, args.rounds)}
    out = args.out or output_path("poison", f"shape-{args.model}.json", full=True)
    write_json(out, report)
    print({k: v for k, v in report.items() if k not in ("examples", "builds")})
    print(f"# wrote {out}")


if __name__ == "__main__":
    main()
