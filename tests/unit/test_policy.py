"""Policy: loading, batched sampling, re-tokenized training batches and per-token log-probs."""

from __future__ import annotations

import pytest
import torch

from node.config import ModelConfig
from node.models import ModelUnavailableError, TINY_SPECS, tiny, warm_start
from node.policy import Policy, pick_device, pick_dtype, row_seed, sample_from
from node.types import Generation, ScoredGroup, Task
from protocol.messages import TaskRef

QUESTIONS = [
    "State the final answer to the following arithmetic problem: 4 - 1 =",
    "State the final answer to the following arithmetic problem: 2 + 7 =",
    "State the final answer to the following arithmetic problem: 5 - 9 =",
]


def group(question: str, texts: tuple[str, ...], rewards: tuple[float, ...]) -> ScoredGroup:
    return ScoredGroup(Task(TaskRef("chain_sum"), question, "3"), texts, rewards)


def test_generate_shapes(tiny_policy):
    out = tiny_policy.generate(QUESTIONS, num_completions=4, seed=0)
    assert [len(g) for g in out] == [4, 4, 4]
    for generation in (g for grp in out for g in grp):
        assert isinstance(generation, Generation)
        assert 1 <= generation.token_count <= tiny_policy.config.max_new_tokens
        assert "<|" not in generation.text  # special tokens stripped
    assert tiny_policy.generate([], num_completions=4, seed=0) == []


def test_generate_is_deterministic_per_rollout(tiny_policy):
    a = tiny_policy.generate(QUESTIONS, num_completions=8, seed=11)
    assert tiny_policy.generate(QUESTIONS, num_completions=8, seed=11) == a
    assert tiny_policy.generate(QUESTIONS, num_completions=8, seed=12) != a
    # A rollout depends on (seed, question index, sample index), not on what else was in the batch.
    assert tiny_policy.generate(QUESTIONS[:1], num_completions=8, seed=11)[0] == a[0]


def test_generate_renders_each_question_once(tiny_policy, monkeypatch):
    expected = tiny_policy.generate(QUESTIONS, num_completions=8, seed=11)
    render, calls = tiny_policy.prompt_ids, []
    monkeypatch.setattr(tiny_policy, "prompt_ids", lambda question: calls.append(question) or render(question))
    assert tiny_policy.generate(QUESTIONS, num_completions=8, seed=11) == expected
    assert calls == QUESTIONS  # the chat template runs once per question, not once per sampled row


def test_sample_from_matches_softmax_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(6000, 1)
    picks = sample_from(logits, torch.rand(6000, generator=torch.Generator().manual_seed(0)), 1.0, 1.0)
    freq = torch.bincount(picks, minlength=3).float() / 6000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2]), atol=0.03)
    top = sample_from(logits[:100], torch.rand(100), 1.0, 0.4)  # the nucleus is the top token alone
    assert bool((top == 0).all())
    assert row_seed(1, 2, 3) != row_seed(1, 3, 2)


def test_build_batch_masks_hand_made_example(tiny_policy):
    tok = tiny_policy.tokenizer
    batch = tiny_policy.build_batch([group(QUESTIONS[0], ("3", "-12"), (1.0, 0.0)), group(QUESTIONS[1], ("9",), (1.0,))])
    prompt = tiny_policy.prompt_ids(QUESTIONS[0])
    end = tiny_policy.end_token_id
    assert batch.group_index.tolist() == [0, 0, 1]
    assert batch.rewards.dtype == torch.float32 and batch.rewards.tolist() == [1.0, 0.0, 1.0]
    row = prompt + tok("-12", add_special_tokens=False)["input_ids"] + [end]
    assert batch.input_ids[1].tolist() == row  # the longest row: no padding
    assert batch.completion_mask[1].tolist() == [0.0] * len(prompt) + [1.0] * (len(row) - len(prompt))
    short = len(prompt) + 2  # "3" + end
    assert batch.attention_mask[0].tolist() == [1] * short + [0] * (len(row) - short)
    assert batch.completion_mask[0].tolist() == [0.0] * len(prompt) + [1.0, 1.0] + [0.0] * (len(row) - short)
    assert batch.input_ids[0, short:].eq(tok.pad_token_id).all()


def test_build_batch_retokenizes_foreign_text(tiny_policy):
    # Text a larger model might send: words and characters this tokenizer never saw become <unk>.
    batch = tiny_policy.build_batch([group(QUESTIONS[0], ("The answer is 3.\n", "3"), (1.0, 1.0))])
    completion = batch.input_ids[0][batch.completion_mask[0].bool()].tolist()
    assert completion[-1] == tiny_policy.end_token_id
    assert tiny_policy.tokenizer.unk_token_id in completion
    assert int(batch.completion_mask[1].sum()) == 2


def test_build_batch_trains_a_local_group_on_the_ids_it_sampled(tiny_policy):
    tok = tiny_policy.tokenizer
    ids = lambda *tokens: tuple(tok.convert_tokens_to_ids(list(tokens)))  # noqa: E731
    # " the" spelt as the sampler spelt it (3 tokens), not as re-tokenizing its text would (one merge); and a
    # completion cut at max_new_tokens, which has no end-of-turn token to train on
    sampled = (ids("Ġ", "th", "e", "<|end|>"), ids("1", "2", "3"))
    local = ScoredGroup(Task(TaskRef("chain_sum"), QUESTIONS[0], "3"), (" the", "123"), (0.0, 1.0), token_ids=sampled)
    assert tok(" the", add_special_tokens=False)["input_ids"] != list(sampled[0][:-1])  # the trap this avoids
    batch = tiny_policy.build_batch([local])
    for row, want in enumerate(sampled):
        assert batch.input_ids[row][batch.completion_mask[row].bool()].tolist() == list(want)


def test_generations_carry_their_sampled_ids(tiny_policy):
    for generation in (g for grp in tiny_policy.generate(QUESTIONS, num_completions=4, seed=5) for g in grp):
        assert len(generation.token_ids) == generation.token_count
        assert tiny_policy.tokenizer.decode(list(generation.token_ids), skip_special_tokens=True) == generation.text


def test_token_logprobs_match_manual_computation(tiny_policy):
    batch = tiny_policy.build_batch([group(QUESTIONS[0], ("3", "-12"), (1.0, 0.0))])
    logp = tiny_policy.token_logprobs(batch, share_prompts=False)
    assert logp.shape == batch.input_ids.shape and logp.requires_grad
    assert torch.equal(logp[:, 0], torch.zeros(2, device=logp.device))
    tolerance = 1e-5 if tiny_policy.compute_dtype == torch.float32 else 2e-2  # bfloat16 on cuda
    with torch.no_grad(), tiny_policy.autocast():
        for b in range(2):
            n = int(batch.attention_mask[b].sum())
            logits = tiny_policy.model(batch.input_ids[b : b + 1, :n]).logits[0].float()
            for t in range(1, n):
                manual = torch.log_softmax(logits[t - 1], -1)[batch.input_ids[b, t]]
                assert torch.allclose(logp[b, t], manual, atol=tolerance)
    (logp * batch.completion_mask).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tiny_policy.parameters())


def test_shared_prompt_updates_give_the_whole_rows_log_probs_and_gradients(tiny_policy):
    """Each distinct prompt runs once: completion columns and gradients equal the whole rows' (float rounding),
    prompt columns are 0. Rows of three questions, local ids and re-tokenized peer text, lengths differing."""
    groups = [group(QUESTIONS[0], ("3", "-12", "3", "4 4"), (1.0, 0.0, 1.0, 0.0)),
              group(QUESTIONS[1], ("9", "90"), (1.0, 0.0)),
              group(QUESTIONS[2], ("-4",), (1.0,))]
    batch = tiny_policy.build_batch(groups)
    assert tiny_policy._prompt_split(batch) is not None  # rows share prompts: the shared path runs

    def logp_and_grads(share: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        for parameter in tiny_policy.parameters():
            parameter.grad = None
        logp = tiny_policy.token_logprobs(batch, share_prompts=share)
        (logp * batch.completion_mask * torch.linspace(-1, 1, len(logp)).unsqueeze(1)).sum().backward()
        return logp.detach(), [p.grad.clone() for p in tiny_policy.parameters()]

    whole, whole_grads = logp_and_grads(False)
    shared, shared_grads = logp_and_grads(True)
    completion = batch.completion_mask.bool()
    tolerance = 1e-5 if tiny_policy.compute_dtype == torch.float32 else 3e-2
    assert torch.allclose(shared[completion], whole[completion], atol=tolerance)
    assert torch.equal(shared[~completion], torch.zeros_like(shared[~completion]))
    for a, b in zip(whole_grads, shared_grads):
        assert torch.allclose(a, b, atol=tolerance * 10, rtol=1e-3)
    assert tiny_policy.token_logprobs(batch).shape == whole.shape  # the config's default: shared


def test_rows_without_a_shared_prompt_run_whole(tiny_policy):
    batch = tiny_policy.build_batch([group(q, ("3",), (1.0,)) for q in QUESTIONS])
    assert tiny_policy._prompt_split(batch) is None
    logp = tiny_policy.token_logprobs(batch)
    assert bool((logp[:, 1:][batch.attention_mask[:, 1:].bool() & ~batch.completion_mask[:, 1:].bool()] != 0).all())


def test_state_dict_round_trip(tiny_policy, tiny_model_config):
    other = Policy.load(tiny_model_config)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    other.load_state_dict(tiny_policy.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(other.parameters(), tiny_policy.parameters()))


def test_local_folder_loads_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = [t for pair in warm_start.sample_pairs(tiny.DEFAULT_FAMILIES, seed=0, count=200) for t in pair]
    tok = tiny.train_tokenizer(texts)
    folder = tmp_path / "my-model"
    tiny.build_model(TINY_SPECS["tiny-0.5m"], tok, seed=0).save_pretrained(folder)
    tok.save_pretrained(folder)
    policy = Policy.load(ModelConfig(name=str(folder), max_new_tokens=3))
    assert policy.name == "my-model"  # the folder name only goes on the wire
    assert [len(g) for g in policy.generate(QUESTIONS[:1], 2, seed=0)] == [2]


def test_hub_id_without_allow_download_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty HF cache: nothing to find locally
    with pytest.raises(ModelUnavailableError, match="allow_download"):
        Policy.load(ModelConfig(name="no-such-org/no-such-model"))
    with pytest.raises(FileNotFoundError):
        Policy.load(ModelConfig(name=str(tmp_path / "missing")))


def test_device_and_dtype_choice():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert pick_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert pick_dtype("float16", torch.device("cpu")) == torch.float16


def test_bfloat16_compute_keeps_float32_weights_so_small_updates_land(tiny_model_config):
    """Adam steps of bfloat16 weights round away at small learning rates (1.6% of weights moved at lr
    1e-6); with float32 weights and bfloat16 autocast every weight moves."""
    from node.algorithms import build_algorithm
    from node.config import AlgorithmConfig

    policy = Policy.load(tiny_model_config.model_copy(update={"dtype": "bfloat16", "device": "cpu"}))
    assert policy.compute_dtype == torch.bfloat16
    assert {p.dtype for p in policy.parameters()} == {torch.float32}
    before = [p.detach().clone() for p in policy.parameters()]
    groups = [group(q, ("1", "2", "3", "4"), (1.0, 0.0, 0.0, 1.0)) for q in QUESTIONS]
    build_algorithm(AlgorithmConfig(lr=1e-6), policy).update(groups)
    moved = sum(int((p.detach() != b).sum()) for p, b in zip(policy.parameters(), before))
    assert moved / sum(b.numel() for b in before) > 0.99
    with policy.autocast():
        logits = policy.model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert logits.dtype == torch.bfloat16


def test_sampling_copy_in_bfloat16_follows_every_weight_change(tiny_model_config):
    from node.algorithms import build_algorithm
    from node.config import AlgorithmConfig

    policy = Policy.load(tiny_model_config.model_copy(update={"dtype": "bfloat16", "device": "cpu"}))
    assert len(policy.generate(QUESTIONS[:1], num_completions=2, seed=3)[0]) == 2
    sampler = policy.sampling_model()
    assert {p.dtype for p in sampler.parameters()} == {torch.bfloat16}
    assert all(not p.requires_grad for p in sampler.parameters())

    def in_step() -> bool:
        return all(torch.equal(s, p.detach().to(torch.bfloat16))
                   for s, p in zip(policy.sampling_model().parameters(), policy.parameters()))

    assert in_step()
    old = [p.clone() for p in sampler.parameters()]
    groups = [group(q, ("1", "2", "3", "4"), (1.0, 0.0, 0.0, 1.0)) for q in QUESTIONS]
    build_algorithm(AlgorithmConfig(lr=1e-2), policy).update(groups)
    assert policy.sampling_model() is sampler and in_step()  # refreshed in place after the optimizer step
    assert not all(torch.equal(a, b) for a, b in zip(old, sampler.parameters()))
    fresh = Policy.load(tiny_model_config.model_copy(update={"dtype": "bfloat16", "device": "cpu"}))
    policy.load_state_dict(fresh.state_dict())
    assert in_step()
    float32 = Policy.load(tiny_model_config.model_copy(update={"dtype": "float32"}))
    assert float32.sampling_model() is float32.model
