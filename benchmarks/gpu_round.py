"""One SAPO round of a paper-sized node on a GPU, through the node's own code, against plain
transformers in the same run.

    python -m benchmarks.gpu_round [--prompts 8] [--completions 8] [--new-tokens 256]
                                   [--prompt-tokens 128] [--micro-batch 16] [--lr 1e-6]
    python -m benchmarks.gpu_round --smoke      # on the CPU: 2 layers, 2 x 2 sequences, 8 new tokens (CI)

The model is Qwen2.5-0.5B's architecture (494M parameters) with random weights, built from its config
on the GPU (nothing is downloaded), with the tiny preset's tokenizer (prompts are padded out to
--prompt-tokens). Rows, each timed after a warm-up call:

- generation: `Policy.generate` (our per-rollout-seeded decode loop over a bfloat16 copy of the
  float32 weights) against HF `model.generate` on bfloat16 weights, the set-up of
  ../shared/baselines.md, and against the same decode loop on the float32 weights under autocast;
- update: `build_algorithm(grpo).update` on prompts x completions sequences against a plain
  forward/backward/Adam step over the same tokens on bfloat16 weights;
- weights moved by one update at --lr: float32 weights (ours) against bfloat16 weights (the baseline),
  where Adam steps smaller than bfloat16's 8-bit mantissa round away.

Prints a table with ours/baseline ratios; writes benchmarks/results/gpu_round/full.json. Needs CUDA;
``--smoke`` checks the script itself on a CPU in seconds (`SMOKE`) and writes to runs/benchmarks/gpu_round/,
as does any run off cuda.
"""

from __future__ import annotations

import argparse
import copy
import platform
import random
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, Qwen2Config

from benchmarks.common import output_path, shown, write_json
from node.algorithms import build_algorithm
from node.config import AlgorithmConfig, ModelConfig
from node.policy import Policy
from node.types import ScoredGroup, Task, TokenBatch
from protocol.messages import TaskRef

NARROW = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2)
"""--narrow: Qwen2.5's layout at a toy width, with the tokenizer's own vocabulary (a check of the code paths)."""
SMOKE = dict(device="cpu", layers=2, narrow=True, new_tokens=8, prompts=2, completions=2, prompt_tokens=16, micro_batch=4,
             repeats=1)
"""--smoke: the whole script on a CPU in seconds (a check that it runs, not a measurement)."""

QWEN25_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
"""Qwen2.5-0.5B-Instruct's config.json, the architecture the paper's smallest nodes run."""


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int = 1) -> tuple[float, object]:
    """(median seconds over `repeats` calls, the last result), synchronising the GPU around each call."""
    seconds, result = [], None
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        result = fn()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def peak_gib(fn, device: torch.device) -> tuple[float, object]:
    """(peak GPU memory allocated during `fn`, in GiB; nan off cuda, fn's result)."""
    if device.type != "cuda":
        return float("nan"), fn()
    torch.cuda.reset_peak_memory_stats(device)
    result = fn()
    return torch.cuda.max_memory_allocated(device) / 2**30, result


def build_policy(args: argparse.Namespace) -> Policy:
    tokenizer = Policy.load(ModelConfig(name="tiny-0.5m", device="cpu")).tokenizer
    device = torch.device(args.device)
    torch.manual_seed(0)
    with device:
        shape = {**QWEN25_05B, "num_hidden_layers": args.layers, **(NARROW | {"vocab_size": len(tokenizer)} if args.narrow else {})}
        model = AutoModelForCausalLM.from_config(Qwen2Config(**shape), dtype=torch.float32)
    config = ModelConfig(name="qwen2.5-0.5b-arch", device=args.device, dtype="bfloat16", max_new_tokens=args.new_tokens)
    return Policy("qwen2.5-0.5b-arch", model.eval(), tokenizer, device, config, torch.bfloat16)


def questions_of(policy: Policy, count: int, prompt_tokens: int) -> list[str]:
    """`count` questions whose chat prompts are about `prompt_tokens` tokens long."""
    rng, questions = random.Random(0), []
    for _ in range(count):
        terms = [str(rng.randint(0, 9))]
        while len(policy.prompt_ids(" + ".join(terms) + " =")) < prompt_tokens:
            terms.append(str(rng.randint(0, 9)))
        questions.append(" + ".join(terms) + " =")
    return questions


class AutocastPolicy(Policy):
    """Generation straight from the float32 weights (run it under `autocast()`): the path before the copy."""

    def sampling_model(self):
        return self.model


def autocast_generate(policy: Policy, questions: list[str], completions: int) -> int:
    variant = AutocastPolicy(policy.name, policy.model, policy.tokenizer, policy.device, policy.config,
                             policy.compute_dtype)
    with policy.autocast():
        groups = variant.generate(questions, completions, seed=0)
    return sum(g.token_count for group in groups for g in group)


def hf_generate(model, policy: Policy, questions: list[str], completions: int, new_tokens: int) -> int:
    """HF `generate` on the same prompts (left-padded, each repeated `completions` times); tokens generated."""
    prompts = [policy.prompt_ids(q) for q in questions for _ in range(completions)]
    width = max(map(len, prompts))
    pad = policy._pad_id()
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=policy.device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=policy.device)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0,
                             top_k=0, max_new_tokens=new_tokens, pad_token_id=pad)
    new = out[:, width:]
    return int((new != pad).sum())


def training_groups(policy: Policy, questions: list[str], completions: int, new_tokens: int) -> list[ScoredGroup]:
    """One group per question of `completions` texts about `new_tokens` tokens long, rewards 1/0 alternating."""
    rng = random.Random(1)
    special = set(policy.tokenizer.all_special_ids)
    vocab = [i for i in range(len(policy.tokenizer)) if i not in special]
    groups = []
    for q, question in enumerate(questions):
        texts = tuple(policy.tokenizer.decode([rng.choice(vocab) for _ in range(new_tokens)]) for _ in range(completions))
        groups.append(ScoredGroup(Task(TaskRef("chain_sum", index=q), question, "0"), texts,
                                  tuple(float(j % 2) for j in range(completions))))
    return groups


def plain_update(model, optimizer, batch: TokenBatch, micro_batch: int) -> float:
    """A minimal policy-gradient step: masked token log-likelihood weighted by reward, forward/backward/Adam."""
    optimizer.zero_grad(set_to_none=True)
    rows, total = batch.input_ids.shape[0], 0.0
    for start in range(0, rows, micro_batch):
        part = slice(start, start + micro_batch)
        logits = model(input_ids=batch.input_ids[part], attention_mask=batch.attention_mask[part]).logits
        logp = -F.cross_entropy(logits[:, :-1].float().transpose(1, 2), batch.input_ids[part, 1:], reduction="none")
        mask = batch.completion_mask[part, 1:]
        loss = -((logp * mask).sum(1) / mask.sum(1).clamp(min=1) * (batch.rewards[part] - 0.5)).sum() / rows
        loss.backward()
        total += float(loss.detach())
    optimizer.step()
    return total


def moved_fraction(parameters, before) -> float:
    changed = sum(int((p.detach() != b).sum()) for p, b in zip(parameters, before))
    return changed / sum(b.numel() for b in before)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_round", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--completions", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--layers", type=int, default=QWEN25_05B["num_hidden_layers"])
    parser.add_argument("--narrow", action="store_true", help="hidden size 64 and the tokenizer's vocabulary (`NARROW`)")
    parser.add_argument("--smoke", action="store_true", help="a CPU check of the script: " + ", ".join(f"{k}={v}" for k, v in SMOKE.items()))
    parser.add_argument("--out", type=Path, default=None, help="JSON result (default benchmarks/results/gpu_round/full.json on cuda)")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    full = not args.smoke and args.device.startswith("cuda")
    args.out = output_path("gpu_round", "full.json" if full else "smoke.json" if args.smoke else "cpu.json", full=full, out=args.out)
    return args


def main() -> None:
    args = parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_round needs a CUDA device (torch.cuda.is_available() is False); "
                         "--smoke checks the script on a CPU")
    device = torch.device(args.device)

    policy = build_policy(args)
    baseline = copy.deepcopy(policy.model).to(torch.bfloat16)
    questions = questions_of(policy, args.prompts, args.prompt_tokens)
    rows = args.prompts * args.completions
    result: dict = {"parameters": sum(p.numel() for p in policy.parameters()), "sequences": rows,
                    "prompt_tokens": len(policy.prompt_ids(questions[0]))}

    # generation
    policy.sampling_model()  # the bfloat16 copy is made once, before any timing
    short = copy.copy(policy)
    short.config = policy.config.model_copy(update={"max_new_tokens": 4})
    short.generate(questions[:1], 2, seed=0)
    policy.generate(questions, args.completions, seed=1)  # the first full-size batch pays CUDA's warm-up (~10 s)
    hf_generate(baseline, policy, questions[:1], 2, 4)
    ours_s, groups = timed(lambda: policy.generate(questions, args.completions, seed=0), device, args.repeats)
    ours_tokens = sum(g.token_count for group in groups for g in group)
    hf_s, hf_tokens = timed(lambda: hf_generate(baseline, policy, questions, args.completions, args.new_tokens), device, args.repeats)
    autocast_generate(policy, questions[:1], 2)
    autocast_s, autocast_tokens = timed(lambda: autocast_generate(policy, questions, args.completions), device, args.repeats)
    result["generation"] = {
        "ours": {"seconds": ours_s, "tokens": ours_tokens, "tokens_per_s": ours_tokens / ours_s},
        "hf_generate_bf16": {"seconds": hf_s, "tokens": hf_tokens, "tokens_per_s": hf_tokens / hf_s},
        "ours_fp32_autocast": {"seconds": autocast_s, "tokens": autocast_tokens,
                               "tokens_per_s": autocast_tokens / autocast_s},
        "ratio_tokens_per_s": (ours_tokens / ours_s) / (hf_tokens / hf_s),
    }

    # update
    groups = training_groups(policy, questions, args.completions, args.new_tokens)
    algorithm = build_algorithm(AlgorithmConfig(lr=args.lr, micro_batch=args.micro_batch), policy)
    batch = policy.build_batch(groups)
    before = [p.detach().clone() for p in policy.parameters()]
    algorithm.update(groups)
    ours_moved = moved_fraction(policy.parameters(), before)
    del before
    ours_peak, (ours_s, _) = peak_gib(lambda: timed(lambda: algorithm.update(groups), device, args.repeats), device)
    refresh_s, _ = timed(policy.sampling_model, device)  # the copy follows the optimizer step
    baseline.train(False)
    optimizer = torch.optim.Adam(baseline.parameters(), lr=args.lr)
    before = [p.detach().clone() for p in baseline.parameters()]
    plain_update(baseline, optimizer, batch, args.micro_batch)
    plain_moved = moved_fraction(baseline.parameters(), before)
    del before
    plain_peak, (plain_s, _) = peak_gib(
        lambda: timed(lambda: plain_update(baseline, optimizer, batch, args.micro_batch), device, args.repeats), device)
    result["update"] = {
        "batch_tokens": list(batch.input_ids.shape),
        "ours": {"seconds": ours_s, "peak_gib": ours_peak, "weights_moved_at_lr": ours_moved,
                 "sampling_copy_refresh_s": refresh_s},
        "plain_bf16": {"seconds": plain_s, "peak_gib": plain_peak, "weights_moved_at_lr": plain_moved},
        "ratio_seconds": ours_s / plain_s,
    }

    g, u = result["generation"], result["update"]
    print(f"{result['parameters'] / 1e6:.0f}M parameters, {rows} sequences, prompt {result['prompt_tokens']} tokens, "
          f"up to {args.new_tokens} new; update batch {u['batch_tokens']}, micro-batch {args.micro_batch}, lr {args.lr}")
    print(f"{'row':<34}{'seconds':>9}{'tokens/s':>10}{'peak GiB':>10}{'moved':>8}")
    print(f"{'generate: Policy.generate':<34}{g['ours']['seconds']:>9.2f}{g['ours']['tokens_per_s']:>10.0f}")
    print(f"{'generate: HF generate, bf16':<34}{g['hf_generate_bf16']['seconds']:>9.2f}"
          f"{g['hf_generate_bf16']['tokens_per_s']:>10.0f}")
    print(f"{'generate: ours, fp32 + autocast':<34}{g['ours_fp32_autocast']['seconds']:>9.2f}"
          f"{g['ours_fp32_autocast']['tokens_per_s']:>10.0f}")
    print(f"{'update: GRPO (fp32 + bf16 autocast)':<34}{u['ours']['seconds']:>9.2f}{'':>10}{u['ours']['peak_gib']:>10.1f}"
          f"{u['ours']['weights_moved_at_lr']:>8.1%}")
    print(f"{'update: plain, bf16 weights':<34}{u['plain_bf16']['seconds']:>9.2f}{'':>10}{u['plain_bf16']['peak_gib']:>10.1f}"
          f"{u['plain_bf16']['weights_moved_at_lr']:>8.1%}")
    print(f"refreshing the bfloat16 sampling copy after an update: {u['ours']['sampling_copy_refresh_s'] * 1e3:.1f} ms")
    print(f"ours / baseline: generation {g['ratio_tokens_per_s']:.2f}x tokens/s, update {u['ratio_seconds']:.2f}x seconds")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} cpu"
    meta = {"device": name, "torch": torch.__version__, "host": platform.node(),
            "args": {k: str(v) for k, v in vars(args).items()}}
    print(f"wrote {shown(write_json(args.out, {'meta': meta, 'result': result}, indent=2))}")


if __name__ == "__main__":
    main()
