"""One SAPO round on whatever device is present: eager vs compiled generation, the update (full and
LoRA), and whole rounds against a local 2-node swarm over the real DHT on loopback.

    python -m benchmarks.gpu_round                 # cuda: 494M Qwen2.5-0.5B shape, 8 x 8 x 256 tokens
    python -m benchmarks.gpu_round --smoke         # any device, tiny-0.5m, < 1 minute on CPU (CI; --quick too)
    python -m benchmarks.gpu_round --model smollm2-135m --rows generate --new-tokens 16
    python -m benchmarks.gpu_round --memory-gib 8 --rows generate,update   # cuda: as on an 8 GiB card

Rows (each timed after a warm-up call, generation paths interleaved; peak memory is what a call allocates above what was allocated
before it: `torch.cuda.max_memory_allocated` on cuda, torch's CPU allocator through the profiler off cuda):
- generate: `Policy.generate` with `model.generation: eager` and `compiled` on the same weights (tokens/s,
  compile seconds, share of rows with identical tokens) and HF `model.generate` as the baseline;
- update: one GRPO update of prompts x completions sequences, all weights vs LoRA adapters (peak of the
  first update, which allocates gradients and Adam state; seconds of the next ones);
- round: the benchmarked node plus a tiny-0.5m peer in this process, each with its own hivemind DHT
  node and p2pd on 127.0.0.1, running `Node.step` (compiled generation on cuda, eager on a CPU); the
  node's rounds after the first are split into generate, train and gossip (publish + collect +
  re-scoring of peers' rollouts).

The 494M model has random weights built from Qwen2.5-0.5B's config on the device (nothing is
downloaded) and the tiny preset's tokenizer, as in ../shared/baselines.md. A full run on cuda writes
benchmarks/results/gpu_round/full.json; a run elsewhere, and --smoke/--quick, write under
runs/benchmarks/gpu_round/ unless --out is given (`benchmarks.common.results`).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import functools
import gc
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from benchmarks.common import output_path, shown, write_json
from node.algorithms import build_algorithm
from node.config import AlgorithmConfig, LoraConfig, ModelConfig, NodeConfig
from node.models.loading import pick_device, pick_dtype
from node.oom import OOM_ERRORS, OutOfMemory
from node.policy import Policy
from node.types import ScoredGroup, Task
from protocol.messages import TaskRef

QWEN = "qwen2.5-0.5b-arch"
QWEN25_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
"""Qwen2.5-0.5B-Instruct's config.json, the architecture the paper's smallest nodes run."""
SHAPES = {
    "cuda": dict(model=QWEN, prompts=8, completions=8, new_tokens=256, prompt_tokens=128, micro_batch=16, repeats=2, rounds=5),
    "cpu": dict(model="tiny-6m", prompts=4, completions=8, new_tokens=32, prompt_tokens=32, micro_batch=16, repeats=3, rounds=4),
    "quick": dict(model="tiny-0.5m", prompts=2, completions=4, new_tokens=12, prompt_tokens=24, micro_batch=8, repeats=3, rounds=2),
}


# ---------------------------------------------------------------------------- measuring


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int = 1) -> tuple[float, Any]:
    """(median seconds of `repeats` calls, the last result)."""
    seconds, result = [], None
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        result = fn()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def peak_mib(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """(peak MiB allocated during `fn` above what was allocated before it, fn's result).

    cuda: the caching allocator's peak. Off cuda: the largest "Total Allocated" of torch's CPU allocator
    that the profiler records with profile_memory (it counts from 0 when profiling starts).
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        result = fn()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20, result
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    totals = [e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]" and e["args"].get("Device Type") == 0]
    return max(totals, default=0) / 2**20, result


# ---------------------------------------------------------------------------- the model and its inputs


def load_policy(args: argparse.Namespace, device: torch.device) -> Policy:
    config = ModelConfig(name=args.model if args.model != QWEN else "tiny-0.5m", device=str(device),
                         max_new_tokens=args.new_tokens)
    if args.model != QWEN:
        return Policy.load(config)
    from transformers import AutoModelForCausalLM, Qwen2Config

    tokenizer = Policy.load(config.model_copy(update={"device": "cpu"})).tokenizer
    torch.manual_seed(0)
    with device:
        model = AutoModelForCausalLM.from_config(Qwen2Config(**QWEN25_05B), dtype=torch.float32)
    config = config.model_copy(update={"name": QWEN})
    return Policy(QWEN, model.eval(), tokenizer, device, config, pick_dtype("auto", device))


def variant(policy: Policy, **update: Any) -> Policy:
    """The same model and weights under another model config (e.g. generation: compiled)."""
    return Policy(policy.name, policy.model, policy.tokenizer, policy.device, policy.config.model_copy(update=update),
                  policy.compute_dtype)


def questions_of(policy: Policy, count: int, prompt_tokens: int) -> list[str]:
    """`count` questions whose chat prompts are about `prompt_tokens` tokens long."""
    rng, questions = random.Random(0), []
    for _ in range(count):
        terms = [str(rng.randint(0, 9))]
        while len(policy.prompt_ids(" + ".join(terms) + " =")) < prompt_tokens:
            terms.append(str(rng.randint(0, 9)))
        questions.append(" + ".join(terms) + " =")
    return questions


def training_groups(policy: Policy, questions: list[str], completions: int, new_tokens: int) -> list[ScoredGroup]:
    """One group per question of `completions` texts about `new_tokens` tokens long, rewards 1/0 alternating."""
    rng = random.Random(1)
    special = set(policy.tokenizer.all_special_ids)
    vocab = [i for i in range(len(policy.tokenizer)) if i not in special]
    return [ScoredGroup(Task(TaskRef("chain_sum", index=q), question, "0"),
                        tuple(policy.tokenizer.decode([rng.choice(vocab) for _ in range(new_tokens)]) for _ in range(completions)),
                        tuple(float(j % 2) for j in range(completions)))
            for q, question in enumerate(questions)]


def hf_generate(policy: Policy, questions: list[str], completions: int, new_tokens: int) -> int:
    """HF `generate` on the sampling weights, same left-padded prompts; tokens generated."""
    from node.decode import left_pad

    prompts = [policy.prompt_ids(q) for q in questions for _ in range(completions)]
    ids, mask = left_pad(prompts, policy._pad_id(), policy.device)
    with torch.no_grad():
        out = policy.sampling_model().generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0,
                                               top_p=1.0, top_k=0, max_new_tokens=new_tokens, pad_token_id=policy._pad_id())
    return int((out[:, ids.shape[1]:] != policy._pad_id()).sum())


# ---------------------------------------------------------------------------- rows


def generation_rows(eager: Policy, compiled: Policy, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    policy = eager
    questions = questions_of(policy, args.prompts, args.prompt_tokens)
    count = lambda groups: sum(g.token_count for group in groups for g in group)  # noqa: E731
    eager.generate(questions[:1], 2, seed=0)  # device warm-up
    first_s, _ = timed(lambda: compiled.generate(questions, args.completions, seed=0), device)
    compile_s = compiled.decoder.take_compile_seconds()
    hf_generate(policy, questions[:1], 2, 4)
    runs = {"eager": lambda: eager.generate(questions, args.completions, seed=0),
            "compiled": lambda: compiled.generate(questions, args.completions, seed=0),
            "hf_generate": lambda: hf_generate(policy, questions, args.completions, args.new_tokens)}
    peaks = {name: peak_mib(run, device)[0] for name, run in runs.items()}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, Any] = {}
    for _ in range(args.repeats):  # interleaved, so a busy host slows every path alike
        for name, run in runs.items():
            took, outputs[name] = timed(run, device)
            seconds[name].append(took)
    eager_s, comp_s, hf_s = (statistics.median(seconds[name]) for name in runs)
    eager_mib, comp_mib, hf_mib = peaks.values()
    eager_out, comp_out, hf_tokens = outputs.values()
    rows = [(a, b) for ga, gb in zip(eager_out, comp_out) for a, b in zip(ga, gb)]
    result = {
        "eager": {"seconds": eager_s, "tokens": count(eager_out), "tokens_per_s": count(eager_out) / eager_s, "peak_mib": eager_mib},
        "compiled": {"seconds": comp_s, "tokens": count(comp_out), "tokens_per_s": count(comp_out) / comp_s, "peak_mib": comp_mib,
                     "compile_s": compile_s, "first_call_s": first_s},
        "hf_generate": {"seconds": hf_s, "tokens": hf_tokens, "tokens_per_s": hf_tokens / hf_s, "peak_mib": hf_mib},
        "identical_rows": sum(a == b for a, b in rows) / len(rows),
        "oom_backoffs": {"eager": eager.generate_batch.backoffs, "compiled": compiled.generate_batch.backoffs},
    }
    result["compiled_over_eager"] = result["compiled"]["tokens_per_s"] / result["eager"]["tokens_per_s"]
    result["compiled_over_hf"] = result["compiled"]["tokens_per_s"] / result["hf_generate"]["tokens_per_s"]
    return result


def update_rows(policy: Policy, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    questions = questions_of(policy, args.prompts, args.prompt_tokens)
    groups = training_groups(policy, questions, args.completions, args.new_tokens)
    result: dict[str, Any] = {"batch_tokens": list(policy.build_batch(groups).input_ids.shape)}
    def with_adapters() -> Policy:  # made after the full update has freed its gradients: one copy at a time
        adapters = copy.deepcopy(policy)
        adapters.model = lora.add_lora(adapters.model, LoraConfig())
        return adapters

    kinds: dict[str, Callable[[], Policy]] = {"full": lambda: policy}
    try:
        from node.models import lora

        kinds["lora"] = with_adapters
    except ImportError:
        result["lora"] = "skipped: peft is not installed (pip install -e '.[lora]')"
    for kind, make in kinds.items():
        target = make()
        algorithm = build_algorithm(AlgorithmConfig(lr=args.lr, micro_batch=args.micro_batch), target)
        trained = sum(p.numel() for p in target.parameters())
        update = functools.partial(algorithm.update, groups)
        try:
            peak, _ = peak_mib(update, device)  # allocates gradients and Adam state
            seconds, _ = timed(update, device, args.repeats)
        except (OutOfMemory, *OOM_ERRORS) as err:  # even micro-batch 1 does not fit (e.g. under --memory-gib)
            result[kind] = {"fits": False, "error": str(err), "trained_parameters": trained}
        else:
            result[kind] = {"fits": True, "seconds": seconds, "peak_mib": peak, "trained_parameters": trained,
                            "micro_batch": algorithm.micro_batch.size, "oom_backoffs": algorithm.micro_batch.backoffs}
        target.model.zero_grad(set_to_none=True)
        del algorithm, target, update
        gc.collect()
        torch.cuda.empty_cache()  # a no-op unless cuda is in use
    if "lora" in kinds and result["full"].get("fits") and result["lora"].get("fits"):
        result["lora_over_full_peak"] = result["lora"]["peak_mib"] / max(result["full"]["peak_mib"], 1e-9)
    return result


async def round_rows(policy: Policy, args: argparse.Namespace) -> dict[str, Any]:
    """The benchmarked node's rounds next to a tiny peer, both on the real DHT over loopback."""
    from node.rewards import build_reward_fn
    from node.round import Node
    from node.tasks import build_task_source
    from protocol import Identity
    from swarm.transports import build_transport
    from swarm.transports.config import TransportConfig

    def node(name: str, node_policy: Policy, sampler: dict, transport: Any) -> Node:
        cfg = NodeConfig.model_validate({"sampler": sampler, "round": {"collect_timeout_s": 2.0},
                                         "algorithm": {"micro_batch": args.micro_batch, "lr": args.lr}})
        return Node(cfg, Identity.from_seed(name.encode()), node_policy, build_task_source(cfg.tasks),
                    build_reward_fn(cfg.rewards), build_algorithm(cfg.algorithm, node_policy), transport,
                    swarm_id="gpu-round", window_seconds=5.0)

    net = dict(type="hivemind", swarm_id="gpu-round", window_seconds=5.0, num_shards=1, shards_per_collect=1,
               request_timeout_s=2.0, startup_timeout_s=60.0)
    transports = [build_transport(TransportConfig(**net), Identity.from_seed(b"bench-node"))]
    await transports[0].start()
    transports.append(build_transport(TransportConfig(**net, initial_peers=[str(a) for a in transports[0].visible_maddrs]),
                                      Identity.from_seed(b"bench-peer")))
    try:
        await transports[1].start()
        peer_policy = Policy.load(ModelConfig(name="tiny-0.5m", device="cpu", max_new_tokens=6))
        peer = node("bench-peer", peer_policy, {"local_i": 2, "external_j": 2, "completions_l": 4}, transports[1])
        main = node("bench-node", policy, {"local_i": args.prompts, "external_j": args.prompts,
                                           "completions_l": args.completions}, transports[0])
        await peer.step()  # something to collect from the first round on
        stop = asyncio.Event()

        async def peer_loop() -> None:
            for _ in range(10_000):  # bounded; stops when the node is done
                if stop.is_set():
                    return
                await peer.step()
                await asyncio.sleep(0.5)

        task = asyncio.create_task(peer_loop())
        rows = [await main.step() for _ in range(args.rounds)]
        stop.set()
        await asyncio.wait_for(task, 120)
    finally:
        for transport in reversed(transports):
            await transport.stop()
    return summarize_rounds(rows)


def summarize_rounds(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds after the first (the first pays one-off costs, reported apart)."""
    later = rows[1:] or rows
    med = lambda key: statistics.median(r[key] for r in later)  # noqa: E731
    gossip = statistics.median(r["t_publish"] + r["t_collect"] + r["t_score_external"] for r in later)
    return {"rounds": len(rows), "first_round_s": rows[0]["t_round"], "round_s": med("t_round"),
            "generate_s": med("t_generate"), "train_s": med("t_train"), "publish_s": med("t_publish"),
            "collect_s": med("t_collect"), "rescore_s": med("t_score_external"), "gossip_s": gossip,
            "gossip_share": gossip / med("t_round"), "tokens_per_s": med("tokens_per_s"),
            "batches_received": sum(r["batches_received"] for r in rows), "external_groups": sum(r["external_groups"] for r in rows),
            "device": rows[-1].get("device")}


# ---------------------------------------------------------------------------- report


def print_table(result: dict[str, Any], args: argparse.Namespace) -> None:
    cap = f", memory capped at {args.memory_gib:g} GiB" if args.memory_gib else ""
    print(f"{result['meta']['device']}: {args.model}, {args.prompts} x {args.completions} sequences, "
          f"prompt ~{args.prompt_tokens} tokens, up to {args.new_tokens} new, micro-batch {args.micro_batch}{cap}")
    print(f"{'row':<36}{'seconds':>9}{'tokens/s':>10}{'peak MiB':>10}  notes")
    g = result.get("generation")
    if g:
        for name, label in (("eager", "generate: eager"), ("compiled", "generate: compiled"), ("hf_generate", "generate: HF generate")):
            row = g[name]
            note = f"compile {row['compile_s']:.1f} s" if name == "compiled" else ""
            print(f"{label:<36}{row['seconds']:>9.3f}{row['tokens_per_s']:>10.0f}{row['peak_mib']:>10.1f}  {note}")
        print(f"compiled / eager {g['compiled_over_eager']:.2f}x tokens/s, compiled / HF {g['compiled_over_hf']:.2f}x; "
              f"identical rows {g['identical_rows']:.0%}")
    u = result.get("update")
    if u:
        for kind in ("full", "lora"):
            row = u.get(kind)
            if isinstance(row, dict) and not row.get("fits", True):
                print(f"{'update: ' + kind:<36}{'does not fit':>29}  {row['trained_parameters'] / 1e6:.2f}M trained: "
                      f"{row['error']}")
            elif isinstance(row, dict):
                backoff = f", micro-batch {row['micro_batch']} after {row['oom_backoffs']} OOM backoffs" if row.get("oom_backoffs") else ""
                print(f"{'update: ' + kind:<36}{row['seconds']:>9.3f}{'':>10}{row['peak_mib']:>10.1f}  "
                      f"{row['trained_parameters'] / 1e6:.2f}M trained{backoff}")
        if "lora_over_full_peak" in u:
            print(f"LoRA / full update peak memory {u['lora_over_full_peak']:.2f}x")
    r = result.get("round")
    if r:
        print(f"{'round (median of rounds 2+)':<36}{r['round_s']:>9.3f}{r['tokens_per_s']:>10.0f}{'':>10}  "
              f"generate {r['generate_s']:.3f} s, train {r['train_s']:.3f} s")
        print(f"{'  gossip: publish+collect+rescore':<36}{r['gossip_s']:>9.3f}{'':>20}  {r['gossip_share']:.1%} of the round "
              f"(publish {r['publish_s'] * 1e3:.0f} ms, collect {r['collect_s'] * 1e3:.0f} ms, rescore {r['rescore_s'] * 1e3:.0f} ms); "
              f"{r['batches_received']} batches from the peer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--smoke", dest="quick", action="store_true",
                        help="tiny shapes, < 1 minute on CPU (what CI runs); JSON under runs/benchmarks/gpu_round/")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", help=f"a preset or {QWEN} (default: by device)")
    for flag in ("prompts", "completions", "new-tokens", "prompt-tokens", "micro-batch", "repeats", "rounds"):
        parser.add_argument(f"--{flag}", type=int)
    parser.add_argument("--rows", default="generate,update,round", help="which rows to run")
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--memory-gib", type=float,
                        help="cuda only: cap this process's GPU memory (a smaller card; shows the OOM backoff and LoRA)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    defaults = SHAPES["quick" if args.quick else "cuda" if device.type == "cuda" else "cpu"]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.device = device
    if args.memory_gib and device.type != "cuda":
        parser.error(f"--memory-gib caps a GPU's memory; the device here is {device}")
    full = not args.quick and device.type == "cuda"
    args.out = output_path("gpu_round", "full.json" if full else "quick.json" if args.quick else "cpu.json",
                           full=full, out=args.out)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    args = parse_args(argv)
    device, rows = args.device, set(args.rows.split(","))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} cpu x{torch.get_num_threads()}"
    result: dict[str, Any] = {"meta": {"device": name, "torch": torch.__version__, "host": platform.node(),
                                       "args": {k: str(v) for k, v in vars(args).items()}}}
    if args.memory_gib:  # the caching allocator raises OutOfMemoryError past the cap, as on a smaller card
        index = torch.cuda.current_device() if device.index is None else device.index
        total = torch.cuda.get_device_properties(index).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_gib * 2**30 / total), index)
    policy = load_policy(args, device)
    compiled = variant(policy, generation="compiled")  # same weights; compiled once, reused by the round rows
    result["parameters"] = sum(p.numel() for p in policy.model.parameters())
    if "generate" in rows:
        result["generation"] = generation_rows(policy, compiled, args, device)
    if "update" in rows:
        result["update"] = update_rows(policy, args, device)
    if "round" in rows:  # the node runs what a user would: compiled on cuda, eager on a CPU
        result["round"] = asyncio.run(round_rows(compiled if device.type == "cuda" else policy, args))
    result["meta"]["wall_s"] = time.perf_counter() - started
    print_table(result, args)
    print(f"whole run {result['meta']['wall_s']:.0f} s")
    write_json(args.out, result, indent=2)
    print(f"wrote {shown(args.out)}")
    return result


if __name__ == "__main__":
    main()
