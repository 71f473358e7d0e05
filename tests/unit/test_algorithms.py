"""Algorithms: advantages and losses against hand-computed values, then learning on a toy task."""

from __future__ import annotations

import math

import pytest
import torch

from node.algorithms import (ALGORITHMS, DrGRPOAlgorithm, GRPOAlgorithm, ReinforceAlgorithm, build_algorithm,
                             group_mean_std)
from node.config import AlgorithmConfig
from node.types import ScoredGroup, Task, TokenBatch
from protocol.messages import TaskRef

VOCAB = "^q01ab"  # "^" starts every sequence


class CharPolicy(torch.nn.Module):
    """Test double of node/policy.py: a bigram model over characters (like nanochat's MockModel)."""

    name = "char"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(len(VOCAB), 8)
        self.head = torch.nn.Linear(8, len(VOCAB))

    def build_batch(self, groups: list[ScoredGroup]) -> TokenBatch:
        rows, masks, index, rewards = [], [], [], []
        for g, group in enumerate(groups):
            prompt = [0] + [VOCAB.index(c) for c in group.task.question]
            for text, reward in zip(group.texts, group.rewards):
                rows.append(prompt + [VOCAB.index(c) for c in text])
                masks.append([0] * len(prompt) + [1] * len(text))
                index.append(g)
                rewards.append(reward)
        width = max(map(len, rows))
        pad = lambda xs: [x + [0] * (width - len(x)) for x in xs]  # noqa: E731
        return TokenBatch(torch.tensor(pad(rows)), torch.tensor(pad([[1] * len(r) for r in rows])),
                          torch.tensor(pad(masks)), torch.tensor(index), torch.tensor(rewards))

    def token_logprobs(self, batch: TokenBatch) -> torch.Tensor:
        ids = batch.input_ids
        logits = self.head(self.embed(ids[:, :-1]))
        picked = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        return torch.cat([torch.zeros_like(picked[:, :1]), picked], dim=1)

    @torch.no_grad()
    def prob(self, after: str, char: str) -> float:
        logits = self.head(self.embed(torch.tensor([VOCAB.index(after)])))
        return float(torch.softmax(logits, -1)[0, VOCAB.index(char)])

    def sample(self, after: str, n: int, generator: torch.Generator) -> list[str]:
        with torch.no_grad():
            probs = torch.softmax(self.head(self.embed(torch.tensor([VOCAB.index(after)]))), -1)[0]
        return [VOCAB[i] for i in torch.multinomial(probs, n, replacement=True, generator=generator).tolist()]


def scored(index: int, texts: list[str], rewards: list[float]) -> ScoredGroup:
    return ScoredGroup(Task(TaskRef("toy", index=index), "q", "1"), tuple(texts), tuple(rewards))


GROUPS = [scored(0, ["1", "0", "a", "1"], [1, 0, 0, 1]), scored(1, ["1b", "0"], [1, 1]), scored(2, ["01", "b"], [1, 0])]


def test_group_advantages_by_hand() -> None:
    grpo = GRPOAlgorithm(AlgorithmConfig(), CharPolicy())
    rewards, groups = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 0]), torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    mean, std = group_mean_std(rewards, groups)
    assert mean.tolist() == [0.5] * 4 + [1.0, 1.0, 0.5, 0.5] and std.tolist() == [0.5] * 4 + [0.0, 0.0, 0.5, 0.5]
    a = 0.5 / (0.5 + 1e-4)
    assert grpo.advantages(rewards, groups).tolist() == pytest.approx([a, -a, -a, a, 0, 0, a, -a])
    dr = DrGRPOAlgorithm(AlgorithmConfig(type="dr_grpo"), CharPolicy())
    assert dr.advantages(rewards, groups).tolist() == [0.5, -0.5, -0.5, 0.5, 0, 0, 0.5, -0.5]
    rloo = ReinforceAlgorithm(AlgorithmConfig(type="reinforce"), CharPolicy())
    assert rloo.advantages(torch.tensor([1.0, 0, 0, 5]), torch.tensor([0, 0, 0, 1])).tolist() == [1, -0.5, -0.5, 0]


def test_grpo_clipped_loss_by_hand() -> None:
    grpo = GRPOAlgorithm(AlgorithmConfig(epsilon_low=0.2, epsilon_high=0.28), CharPolicy())
    logp = torch.tensor([[0.0, math.log(1.5), math.log(0.5)]] * 2)  # ratios 1, 1.5, 0.5 against old = 0
    mask = torch.tensor([[0.0, 1.0, 1.0]] * 2)
    loss, metrics = grpo.sequence_loss(logp, torch.zeros_like(logp), None, torch.tensor([1.0, -1.0]), mask)
    # A=+1: max(-1.5, -1.28) = -1.28 and max(-0.5, -0.8) = -0.5; A=-1: max(1.5, 1.28) = 1.5 and max(0.5, 0.8) = 0.8
    assert loss.tolist() == pytest.approx([(-1.28 - 0.5) / 2, (1.5 + 0.8) / 2])
    assert float(metrics["clip_fraction"]) == 1.0 and float(metrics["kl"]) == 0.0


def test_kl_term_by_hand() -> None:
    grpo = GRPOAlgorithm(AlgorithmConfig(beta=0.1), CharPolicy())
    assert grpo.reference is not None
    logp, ref, mask = torch.tensor([[0.0, -1.0]]), torch.tensor([[0.0, -2.0]]), torch.tensor([[0.0, 1.0]])
    loss, metrics = grpo.sequence_loss(logp, logp, ref, torch.tensor([0.0]), mask)
    k3 = math.exp(-1.0) + 1.0 - 1.0  # exp(ref - logp) - (ref - logp) - 1 with ref - logp = -1
    assert float(loss[0]) == pytest.approx(0.1 * k3) and float(metrics["kl"]) == pytest.approx(k3)


def test_dr_grpo_sums_tokens_over_a_constant() -> None:
    dr = DrGRPOAlgorithm(AlgorithmConfig(type="dr_grpo", options={"max_completion_tokens": 4}), CharPolicy())
    dr.begin_update(CharPolicy().build_batch(GROUPS))
    token_loss, mask = torch.tensor([[9.0, 1.0, 2.0], [9.0, 3.0, 0.0]]), torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    assert dr.reduce_tokens(token_loss, mask).tolist() == [0.75, 0.75]


def test_update_changes_parameters_and_reports() -> None:
    policy = CharPolicy()
    before = [p.detach().clone() for p in policy.parameters()]
    stats = build_algorithm(AlgorithmConfig(lr=1e-2), policy).update(GROUPS)
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    assert (stats.num_sequences, stats.num_tokens) == (8, 10)
    assert stats.extra["grad_norm"] > 0 and stats.extra["clip_fraction"] == 0.0


def test_the_fused_step_counts_its_writes_in_every_weights_version() -> None:
    """The policy refreshes its sampling copy (bfloat16, LoRA's merged weights) when a weight's `_version` moved;
    torch's fused Adam kernel writes without counting, so the algorithm counts the write itself."""
    policy = CharPolicy()
    algorithm = build_algorithm(AlgorithmConfig(lr=1e-2), policy)
    assert algorithm.optimizer.defaults["fused"]  # parameters on the CPU: the fused step
    versions = [p._version for p in policy.parameters()]
    algorithm.update(GROUPS)
    assert all(p._version != v for p, v in zip(policy.parameters(), versions))


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_micro_batches_accumulate_to_the_full_batch(name: str) -> None:
    params = []
    for micro in (3, 64):
        policy = CharPolicy()
        build_algorithm(AlgorithmConfig(type=name, lr=1e-2, micro_batch=micro), policy).update(GROUPS)
        params.append(torch.cat([p.detach().flatten() for p in policy.parameters()]))
    assert torch.allclose(params[0], params[1], atol=1e-6)


class CountingCharPolicy(CharPolicy):
    """Counts the rows that get a forward pass."""

    forwarded = 0

    def token_logprobs(self, batch: TokenBatch) -> torch.Tensor:
        self.forwarded += int(batch.input_ids.shape[0])
        return super().token_logprobs(batch)


# a peer's group learnt from its successes only: its failures' advantages are clamped to 0
PEER_GROUP = ScoredGroup(Task(TaskRef("toy", index=3), "q", "1"), ("1", "0", "0", "a"), (1.0, 0.0, 0.0, 0.0), source="peer")


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_inert_zero_advantage_rows_are_skipped_and_the_step_is_unchanged(name: str) -> None:
    groups = [*GROUPS, PEER_GROUP]  # GROUPS[1] is all-equal (advantage 0); PEER_GROUP has 3 clamped failures
    params, forwarded = {}, {}
    for skip in (True, False):
        policy = CountingCharPolicy()
        algorithm = build_algorithm(AlgorithmConfig(type=name, lr=1e-2, external_advantage="positive",
                                                    merge_duplicates=False), policy)
        algorithm.zero_advantage_rows_are_inert = skip
        stats = algorithm.update(groups)
        params[skip] = torch.cat([p.detach().flatten() for p in policy.parameters()])
        forwarded[skip] = policy.forwarded
        assert stats.num_sequences == 12 and stats.extra["inert_rows_skipped"] == 12 - forwarded[skip]
    assert forwarded == {True: 7, False: 12}
    assert torch.allclose(params[True], params[False], atol=1e-7)


def test_a_subclass_that_changes_the_loss_skips_nothing_unless_it_says_so() -> None:
    class EntropyBonus(GRPOAlgorithm):  # a per-row term: zero-advantage rows are no longer inert
        def sequence_loss(self, logp, old_logp, ref_logp, advantages, mask):  # type: ignore[no-untyped-def]
            loss, metrics = super().sequence_loss(logp, old_logp, ref_logp, advantages, mask)
            return loss + 0.01 * (logp * mask).sum(dim=1), metrics

    class Declared(EntropyBonus):
        zero_advantage_rows_are_inert = True

    assert GRPOAlgorithm.zero_advantage_rows_are_inert and DrGRPOAlgorithm.zero_advantage_rows_are_inert
    assert not EntropyBonus.zero_advantage_rows_are_inert and Declared.zero_advantage_rows_are_inert
    assert not EntropyBonus.rows_are_independent and all(a.rows_are_independent for a in (GRPOAlgorithm, DrGRPOAlgorithm, ReinforceAlgorithm))
    policy = CountingCharPolicy()
    EntropyBonus(AlgorithmConfig(external_advantage="positive"), policy).update([*GROUPS, PEER_GROUP])
    assert policy.forwarded == 12


def test_no_row_is_skipped_when_a_kl_term_makes_it_count() -> None:
    policy = CountingCharPolicy()
    build_algorithm(AlgorithmConfig(beta=0.1, external_advantage="positive", merge_duplicates=False),
                    policy).update([*GROUPS, PEER_GROUP])
    assert policy.forwarded == 12


# a group whose answers repeat, as a small model's do: "1" x3 (advantage +), "0" x2 and "a" (advantage -)
REPEATS = ScoredGroup(Task(TaskRef("toy", index=4), "q", "1"), ("1", "0", "1", "a", "0", "1"),
                      (1.0, 0.0, 1.0, 0.0, 0.0, 1.0))
# the same texts from a peer, learnt from through its successes only: they are not merged with local rows
PEER_REPEATS = ScoredGroup(REPEATS.task, REPEATS.texts, REPEATS.rewards, source="peer")


@pytest.mark.parametrize("beta", [0.0, 0.1])
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_identical_rows_get_one_pass_and_the_step_is_unchanged(name: str, beta: float) -> None:
    groups = [*GROUPS, REPEATS, PEER_REPEATS]
    params, forwarded, stats = {}, {}, {}
    for merge in (True, False):
        policy = CountingCharPolicy()
        algorithm = build_algorithm(AlgorithmConfig(type=name, lr=1e-2, beta=beta, iterations=2, micro_batch=2,
                                                    external_advantage="positive", merge_duplicates=merge), policy)
        stats[merge] = algorithm.update(groups)
        params[merge] = torch.cat([p.detach().flatten() for p in policy.parameters()])
        forwarded[merge] = policy.forwarded
    assert torch.allclose(params[True], params[False], atol=1e-6)
    assert stats[True].loss == pytest.approx(stats[False].loss, abs=1e-6)
    assert stats[True].extra["entropy"] == pytest.approx(stats[False].extra["entropy"], rel=1e-5)
    merged = stats[True].extra["duplicate_rows_merged"]
    assert stats[False].extra["duplicate_rows_merged"] == 0
    # at least the peer's three identical successes ("1", the same advantage) and, within REPEATS, "1" x3 and
    # "0" x2 (rows of other groups merge too where their advantages are equal, which depends on the algorithm)
    assert merged >= 2 + 2 + 1
    assert forwarded[False] - forwarded[True] == 2 * merged  # each merged row saves a forward in both iterations


def test_rows_that_differ_in_tokens_or_advantage_are_not_merged() -> None:
    from node.algorithms.base import distinct_rows

    policy = CharPolicy()
    groups = [REPEATS, scored(5, ["1", "1"], [1, 0])]  # the same text "1", rewarded in one group only
    batch = policy.build_batch(groups)
    advantages = torch.tensor([0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 1.0, -1.0])
    local = torch.ones(8, dtype=torch.bool)
    keep, counts = distinct_rows(batch, advantages, local, torch.arange(8))
    assert keep.tolist() == [0, 1, 3, 6, 7] and counts.tolist() == [3.0, 2.0, 1.0, 1.0, 1.0]


def test_state_dict_round_trip_and_empty_update() -> None:
    algorithm = build_algorithm(AlgorithmConfig(), CharPolicy())
    algorithm.update(GROUPS)
    fresh = build_algorithm(AlgorithmConfig(), CharPolicy())
    fresh.load_state_dict(algorithm.state_dict())
    assert fresh.optimizer.state_dict()["state"][0]["step"] == 1
    assert algorithm.update([]).num_sequences == 0


def test_unknown_algorithm_lists_known_names() -> None:
    with pytest.raises(ValueError, match="dr_grpo, grpo, reinforce"):
        build_algorithm(AlgorithmConfig(type="nope"), CharPolicy())


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_reward_goes_up_on_a_toy_task(name: str) -> None:
    # toy task: after "q", answer "1"; the untrained policy says "1" about 1 time in 6
    policy, generator = CharPolicy(seed=1), torch.Generator().manual_seed(0)
    algorithm = build_algorithm(AlgorithmConfig(type=name, lr=3e-2), policy)
    start = policy.prob("q", "1")
    for step in range(30):
        groups = []
        for g in range(4):
            texts = policy.sample("q", 8, generator)
            groups.append(scored(g, texts, [float(t == "1") for t in texts]))
        algorithm.update(groups)
    assert policy.prob("q", "1") > max(0.6, 2 * start)


def _after_updates(name: str, lr: float, iterations: int, updates: int) -> tuple[torch.Tensor, int, float]:
    policy = CountingCharPolicy()
    config = AlgorithmConfig(type=name, lr=lr, iterations=iterations, external_advantage="positive",
                             merge_duplicates=False)
    algorithm = build_algorithm(config, policy)
    for _ in range(updates):
        stats = algorithm.update([*GROUPS, PEER_GROUP])
    params = torch.cat([p.detach().flatten() for p in policy.parameters()])
    return params, policy.forwarded, stats.extra.get("clip_fraction", 0.0)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_two_iterations_are_two_steps_on_one_batch(name: str) -> None:
    # a small step keeps the importance ratio at 1 to first order: two iterations match two updates
    iterated, forwarded, _ = _after_updates(name, 1e-5, iterations=2, updates=1)
    twice, forwarded_twice, _ = _after_updates(name, 1e-5, iterations=1, updates=2)
    once, _, _ = _after_updates(name, 1e-5, iterations=1, updates=1)
    assert forwarded == forwarded_twice == 2 * 7  # inert rows are skipped in every iteration
    assert torch.allclose(iterated, twice, atol=1e-9) and not torch.allclose(iterated, once, atol=1e-7)


@pytest.mark.parametrize("name", ["grpo", "dr_grpo"])
def test_later_iterations_are_clipped_against_the_first_pass_policy(name: str) -> None:
    # a large step moves the ratio out of [0.8, 1.28]: the second iteration sees it (a fresh update would not)
    iterated, _, clip_fraction = _after_updates(name, 0.3, iterations=2, updates=1)
    twice, _, fresh_clip_fraction = _after_updates(name, 0.3, iterations=1, updates=2)
    assert clip_fraction > 0 and fresh_clip_fraction == 0
    assert not torch.allclose(iterated, twice, atol=1e-4)
