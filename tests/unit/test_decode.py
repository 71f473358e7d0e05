"""The compiled decode path (static KV cache + torch.compile'd step) against the eager one, token for token;
the eager path's prefill, shared by the rows of one prompt, against each row decoded alone.

Compiling takes seconds to a minute of CPU (once per process and shape; inductor caches kernels on
disk), so the comparisons share one compiled policy.
"""

from __future__ import annotations

import pytest
import torch

from node.algorithms import build_algorithm
from node.config import AlgorithmConfig
from node.decode import CACHE_BUCKET, CompiledDecoder, EagerDecoder, Sampling, build_decoder, left_pad
from node.policy import Policy, sample_from
from node.types import ScoredGroup, Task
from protocol.messages import TaskRef

QUESTIONS = [f"State the final answer to the following arithmetic problem: {a} - {b} =" for a, b in ((4, 1), (2, 7), (9, 3))]


@pytest.fixture(scope="module")
def pair(tiny_model_config) -> tuple[Policy, Policy]:
    """(eager, compiled) policies on the same weights, 12 new tokens (past the usual answer, to exercise the cache)."""
    config = tiny_model_config.model_copy(update={"max_new_tokens": 12})
    eager = Policy.load(config)
    compiled = Policy.load(config.model_copy(update={"generation": "compiled"}))
    compiled.model.load_state_dict(eager.model.state_dict())
    return eager, compiled


def tokens(policy: Policy, seed: int, questions: list[str] = QUESTIONS, completions: int = 4) -> list[list[tuple[str, int]]]:
    return [[(g.text, g.token_count) for g in group] for group in policy.generate(questions, completions, seed)]


@pytest.mark.slow
def test_compiled_gives_the_eager_tokens_for_the_same_seeds(pair) -> None:
    eager, compiled = pair
    for seed in (0, 1, 2):
        assert tokens(compiled, seed) == tokens(eager, seed)
    assert compiled.decoder.take_compile_seconds() > 0  # paid once, on the first call ...
    assert tokens(compiled, 3) == tokens(eager, 3)
    assert compiled.decoder.take_compile_seconds() == 0.0  # ... and never again for this shape
    short = ["1 + 2 =", "3 - 3 =", "9 + 0 ="]  # same batch, shorter prompts: the longer cache is reused
    assert tokens(compiled, 3, short) == tokens(eager, 3, short)
    assert compiled.decoder.take_compile_seconds() == 0.0
    assert tokens(compiled, 4) != tokens(compiled, 5)


@pytest.mark.slow
def test_compiled_step_sees_weights_changed_by_an_update(pair) -> None:
    eager, compiled = pair
    group = ScoredGroup(Task(TaskRef("chain_sum"), QUESTIONS[0], "3"), ("3", "5", "3", "12"), (1.0, 0.0, 1.0, 0.0))
    for policy in (eager, compiled):
        build_algorithm(AlgorithmConfig(lr=3e-2), policy).update([group])  # a large step: tokens must move
    assert torch.equal(next(eager.parameters()), next(compiled.parameters()))
    assert tokens(compiled, 0) == tokens(eager, 0)
    assert compiled.decoder.take_compile_seconds() == 0.0  # new weights, same compiled step


@pytest.mark.slow
def test_compiled_micro_batches_pad_the_last_one_and_match(pair) -> None:
    eager, compiled = pair
    compiled.generate_batch.size = 5  # 12 rows: 5 + 5 + 2 padded to 5, one compiled shape
    try:
        assert tokens(compiled, 7) == tokens(eager, 7)
    finally:
        compiled.generate_batch.size = None


def test_build_decoder_and_left_pad() -> None:
    assert isinstance(build_decoder("eager", torch.device("cpu")), EagerDecoder)
    assert isinstance(build_decoder("compiled", torch.device("cpu")), CompiledDecoder)
    with pytest.raises(ValueError, match="eager or compiled"):
        build_decoder("fast", torch.device("cpu"))
    ids, mask = left_pad([[5, 6, 7], [8]], 0, torch.device("cpu"))
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert CACHE_BUCKET % 8 == 0


def test_eager_prefills_each_prompt_once_and_samples_what_each_row_alone_samples(tiny_model_config) -> None:
    policy = Policy.load(tiny_model_config.model_copy(update={"max_new_tokens": 12}))
    prompts = [policy.prompt_ids(q) for q in QUESTIONS for _ in range(4)]  # a question's rows share its prompt
    uniforms = torch.rand(len(prompts), 12, generator=torch.Generator().manual_seed(0))
    sampling = Sampling(lambda logits, u: sample_from(logits, u, 1.0, 1.0), (policy.end_token_id,), policy._pad_id())
    shapes: list[tuple[int, ...]] = []
    hook = policy.model.register_forward_pre_hook(lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
                                                  with_kwargs=True)
    try:
        shared = EagerDecoder().decode(policy.model, prompts, uniforms, sampling)
    finally:
        hook.remove()
    assert shapes[0][0] == len(QUESTIONS) and all(shape == (len(prompts), 1) for shape in shapes[1:])
    for r, prompt in enumerate(prompts):  # alone: nothing to share, the prefill of its own prompt
        alone = EagerDecoder().decode(policy.model, [prompt], uniforms[r : r + 1], sampling)[0].tolist()
        assert shared[r].tolist() == alone + [sampling.pad_id] * (shared.shape[1] - len(alone))
    assert len({tuple(row.tolist()) for row in shared}) > len(QUESTIONS)  # rows of one prompt still differ
