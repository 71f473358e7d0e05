"""Out-of-memory backoff on CPU: the forward raises torch's OOM error for batches above a size.

Generation and the update are redone at half the micro-batch until they fit; the result is the one
an un-injected run gives, the size is kept for later rounds, one warning is logged, and a round that
hit it writes exactly one metrics row with the same rng streams as a round that did not.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

import pytest
import torch

from node.algorithms import build_algorithm
from node.config import AlgorithmConfig, NodeConfig
from node.metrics import JsonlMetrics, read_metrics
from node.oom import OOM_ERRORS, MicroBatch, OutOfMemory
from node.policy import Policy
from node.rewards import build_reward_fn
from node.round import Node
from node.tasks import build_task_source
from node.types import ScoredGroup, Task
from protocol import Identity
from protocol.messages import TaskRef

QUESTIONS = [f"State the final answer to the following arithmetic problem: {a} + {b} =" for a, b in ((4, 1), (2, 7), (5, 3))]
OOM = OOM_ERRORS[0]


def oom_above(model: torch.nn.Module, rows: int, calls: list[int]) -> None:
    """Make `model`'s forward raise torch's OOM error whenever it gets more than `rows` rows."""
    forward = model.forward

    @functools.wraps(forward)
    def guarded(*args, **kwargs):
        batch = kwargs["input_ids"].shape[0]
        calls.append(batch)
        if batch > rows:
            raise OOM(f"CUDA out of memory. Tried to allocate 2.00 GiB (injected above {rows} rows)")
        return forward(*args, **kwargs)

    model.forward = guarded


def test_micro_batch_halves_until_it_fits_and_keeps_the_size(caplog: pytest.LogCaptureFixture) -> None:
    sizes = MicroBatch(None, what="update", model="m", device=torch.device("cpu"))
    tried: list[int] = []

    def step(size: int) -> int:
        tried.append(size)
        if size > 5:
            raise OOM("out of memory")
        return size

    with caplog.at_level(logging.WARNING, logger="node.oom"):
        assert sizes.run(step, rows=48) == 3
    assert tried == [48, 24, 12, 6, 3] and sizes.size == 3 and sizes.backoffs == 4
    assert len(caplog.records) == 1 and "micro-batch 48 of 48 rows; redone at 3" in caplog.text
    assert sizes.run(step, rows=48) == 3 and tried[-1] == 3  # the next round starts at the size that fit
    with pytest.raises(ValueError):  # any other error propagates unchanged
        sizes.run(lambda size: (_ for _ in ()).throw(ValueError("not an OOM")), rows=4)


def test_gives_up_at_micro_batch_one_naming_model_batch_and_memory() -> None:
    sizes = MicroBatch(8, what="generation", model="smollm2-135m", device=torch.device("cpu"))
    with pytest.raises(OutOfMemory) as err:
        sizes.run(lambda size: (_ for _ in ()).throw(OOM("CUDA out of memory")), rows=8)
    message = str(err.value)
    assert "smollm2-135m" in message and "batch of 8 rows" in message and "cpu memory" in message
    assert "from 8 down to 1" in message and sizes.size == 1


def test_generation_backs_off_and_samples_the_same_tokens(tiny_model_config) -> None:
    expected = Policy.load(tiny_model_config).generate(QUESTIONS, num_completions=4, seed=5)
    policy = Policy.load(tiny_model_config)
    calls: list[int] = []
    oom_above(policy.model, 3, calls)
    assert policy.generate(QUESTIONS, num_completions=4, seed=5) == expected
    assert policy.generate_batch.size == 3 and policy.generate_batch.backoffs == 2  # 12 -> 6 -> 3
    # each call prefills its distinct prompts once (3 questions, then 2 in the first 6 rows), then steps every row
    assert calls[:4] == [3, 12, 2, 6] and max(calls[4:]) == 3


def groups() -> list[ScoredGroup]:
    return [ScoredGroup(Task(TaskRef("chain_sum", index=i), q, "5"), ("5", "4", "12", "5"), (1.0, 0.0, 0.0, 1.0))
            for i, q in enumerate(QUESTIONS)]


def test_update_backs_off_to_the_same_step(tiny_model_config) -> None:
    reference = Policy.load(tiny_model_config)  # what a run configured at the size that fits does
    build_algorithm(AlgorithmConfig(micro_batch=3, iterations=2, merge_duplicates=False), reference).update(groups())
    policy = Policy.load(tiny_model_config)
    algorithm = build_algorithm(AlgorithmConfig(micro_batch=12, iterations=2, merge_duplicates=False), policy)
    calls: list[int] = []
    oom_above(policy.model, 4, calls)
    stats = algorithm.update(groups())
    assert algorithm.micro_batch.size == 3 and stats.num_sequences == 12  # 12 -> 6 -> 3
    steps = {int(state["step"]) for state in algorithm.optimizer.state.values()}
    assert steps == {2}, "a redone pass must not add optimizer steps"
    for got, want in zip(policy.parameters(), reference.parameters()):
        assert torch.equal(got, want), "the backed-off update differs from one run at micro-batch 3"


def make_node(model_config, tmp_path: Path) -> Node:
    cfg = NodeConfig.model_validate({"model": model_config.model_dump(),
                                     "sampler": {"local_i": 3, "external_j": 0, "completions_l": 4},
                                     "algorithm": {"merge_duplicates": False}})  # the back-offs below count every row
    policy = Policy.load(cfg.model)
    return Node(cfg, Identity.from_seed(b"oom"), policy, build_task_source(cfg.tasks), build_reward_fn(cfg.rewards),
                build_algorithm(cfg.algorithm, policy), None, metrics=JsonlMetrics(tmp_path / "metrics.jsonl"))


def test_a_round_that_ran_out_of_memory_is_redone_not_skipped(tiny_model_config, tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = make_node(tiny_model_config, tmp_path / "plain")
    asyncio.run(plain.run(2))
    plain_rng = torch.get_rng_state()
    torch.manual_seed(0)
    hit = make_node(tiny_model_config, tmp_path / "hit")
    oom_above(hit.policy.model, 5, [])
    asyncio.run(hit.run(2))
    assert torch.equal(torch.get_rng_state(), plain_rng)
    want, got = read_metrics(tmp_path / "plain" / "metrics.jsonl"), read_metrics(tmp_path / "hit" / "metrics.jsonl")
    assert [r["round"] for r in got] == [0, 1]
    assert [r["reward_by_question"] for r in got] == [r["reward_by_question"] for r in want]
    # generation: 12 rows -> 6 -> 3 in round 0, then 3 is kept. The update's rows are the kept groups' (4 each);
    # how many groups are informative depends on the model's samples (the tiny build's bytes differ between CPU
    # kernel sets), so its back-offs are derived from them: halve while more than 5 rows go in at once.
    backoffs, update_size, update_backoffs = 2, 64, 0
    for mine, plain_row in zip(got, want):
        rows = 4 * plain_row["kept_groups"]
        while rows and min(update_size, rows) > 5:
            update_size, backoffs, update_backoffs = min(update_size, rows) // 2, backoffs + 1, update_backoffs + 1
        assert mine["oom_backoffs"] == backoffs, "each size that fit is kept: no round runs out of memory twice"
        assert mine["generate_micro_batch"] == 3 and mine["update_micro_batch"] == update_size
        assert mine["loss"] == pytest.approx(plain_row["loss"], abs=1e-6)
    assert update_backoffs >= 1, "no update ran out of memory: the check above proved nothing about updates"
