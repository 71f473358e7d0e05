"""Rollout generation: `Policy.generate` (all rollouts in one batch) against a plain loop of
`model.generate` calls, one prompt at a time, with the same model, settings and questions, in one run.

    python -m benchmarks.generation [--models tiny-0.5m,tiny-6m] [--questions 16] [--completions 16]
                                    [--max-new-tokens 6] [--threads 2]
    python -m benchmarks.generation --smoke    # tiny-0.5m, 2 questions x 2 completions (CI)

Prints a table and the batched/loop ratio per model; writes benchmarks/results/generation/full.json
(--smoke: runs/benchmarks/generation/).
Rollouts/s counts completions; tokens/s counts generated tokens up to and including the end token.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from benchmarks.common import output_path, shown, write_json
from node.config import ModelConfig
from node.models import warm_start
from node.models.tiny import DEFAULT_FAMILIES
from node.policy import Policy

def batched(policy: Policy, questions: list[str], completions: int) -> tuple[float, int]:
    started = time.perf_counter()
    groups = policy.generate(questions, completions, seed=0)
    return time.perf_counter() - started, sum(g.token_count for group in groups for g in group)


@torch.no_grad()
def one_at_a_time(policy: Policy, questions: list[str], completions: int) -> tuple[float, int]:
    config, stop = policy.config, policy.end_token_id
    tokens = 0
    started = time.perf_counter()
    for question in questions:
        ids = torch.tensor([policy.prompt_ids(question)], device=policy.device)
        for _ in range(completions):
            out = policy.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                                        temperature=config.temperature, top_p=config.top_p, top_k=0,
                                        max_new_tokens=config.max_new_tokens, pad_token_id=policy._pad_id())
            new = out[0, ids.shape[1]:].tolist()
            tokens += new.index(stop) + 1 if stop in new else len(new)
    return time.perf_counter() - started, tokens


def bench(name: str, args: argparse.Namespace) -> dict:
    policy = Policy.load(ModelConfig(name=name, max_new_tokens=args.max_new_tokens, threads=args.threads))
    questions = [q for q, _ in warm_start.sample_pairs(DEFAULT_FAMILIES, seed=7, count=args.questions)]
    batched(policy, questions[:2], 2)  # warm-up: first-call allocations
    row = {"model": name, "parameters": sum(p.numel() for p in policy.parameters()),
           "rollouts": args.questions * args.completions}
    for label, fn in (("batched", batched), ("loop", one_at_a_time)):
        seconds, tokens = fn(policy, questions, args.completions)
        row[label] = {"seconds": seconds, "tokens": tokens, "rollouts_per_s": row["rollouts"] / seconds,
                      "tokens_per_s": tokens / seconds}
    row["speedup_rollouts"] = row["batched"]["rollouts_per_s"] / row["loop"]["rollouts_per_s"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None, help="comma-separated presets (default tiny-0.5m,tiny-6m; smoke tiny-0.5m)")
    parser.add_argument("--questions", type=int, default=None, help="default 16; smoke 2")
    parser.add_argument("--completions", type=int, default=None, help="default 16; smoke 2")
    parser.add_argument("--max-new-tokens", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="one tiny model, 2 x 2 rollouts, written to runs/benchmarks/generation/")
    parser.add_argument("--out", type=Path, default=None, help="JSON result (default benchmarks/results/generation/full.json)")
    args = parser.parse_args()
    args.models = args.models or ("tiny-0.5m" if args.smoke else "tiny-0.5m,tiny-6m")
    args.questions = args.questions or (2 if args.smoke else 16)
    args.completions = args.completions or (2 if args.smoke else 16)
    out = output_path("generation", "smoke.json" if args.smoke else "full.json", full=not args.smoke, out=args.out)
    rows = [bench(name, args) for name in args.models.split(",")]
    print(f"{'model':<14}{'params':>10}{'how':>9}{'seconds':>9}{'rollouts/s':>12}{'tokens/s':>10}")
    for row in rows:
        for how in ("batched", "loop"):
            r = row[how]
            print(f"{row['model']:<14}{row['parameters']:>10,}{how:>9}{r['seconds']:>9.2f}"
                  f"{r['rollouts_per_s']:>12.1f}{r['tokens_per_s']:>10.1f}")
        print(f"{row['model']:<14} batched / loop: {row['speedup_rollouts']:.1f}x rollouts/s")
    meta = {"machine": f"{platform.machine()} cpu x{torch.get_num_threads()}",
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    print(f"wrote {shown(write_json(out, {'meta': meta, 'results': rows}, indent=2))}")


if __name__ == "__main__":
    main()
