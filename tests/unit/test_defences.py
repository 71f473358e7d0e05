"""The defences against poisoned rollouts, each on hand-made groups: a poisoned completion is dropped with its
reason counted; an honest one, also from a bigger or a smaller model than the receiver's, is kept."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from node.config import ModelConfig, NodeConfig, RewardsConfig, TasksConfig
from node.rewards import build_reward_fn
from node.defences import (
    JUDGES,
    DefenceChain,
    PeerTrust,
    PlausibilityDefence,
    ShapeDefence,
    build_defences,
    lowest_token_logprob,
    mean_token_logprob,
    register_judge,
    token_counter,
)
from node.models import ensure_model
from node.peer_ledger import PeerLedger
from node.policy import Policy
from node.tasks import TaskSource
from node.types import ScoredGroup, Task
from protocol.messages import Completion, RolloutBatch, RolloutGroup, TaskRef

TASKS = TaskSource(TasksConfig())
REWARD = build_reward_fn(RewardsConfig())


def chain_sum_task(index: int = 0) -> Task:
    return TASKS.draw("defence-tests", index, 1)[0]


def group(texts: list[str], source: str = "peer-b", index: int = 0) -> ScoredGroup:
    """A chain_sum group scored by the node's real verifier (reasoning-gym's partial credit included)."""
    task = chain_sum_task(index)
    return ScoredGroup(task, tuple(texts), tuple(REWARD(task, texts)), source)


def poisoned(answer: str) -> dict[str, str]:
    """One completion per attack of benchmarks/poison/attacks.py, around the right answer."""
    wrong = str(int(answer) + 1)
    return {"a_suffix": f"{answer} final problem", "b_prefix": f" final problem answer:{answer}",
            "c_pad": ("-000" + answer[1:]) if answer.startswith("-") else "000" + answer,
            "d_step": f"={wrong} answer:{answer}", "tags_and_text": f"<answer>{answer}</answer> visit x"}


# ---------------------------------------------------------------- shape


def test_shape_drops_every_attack_and_counts_its_reason(tiny_policy) -> None:
    answer = chain_sum_task().answer
    attacks = poisoned(answer)
    honest = [answer, f" {answer}", f"answer: {answer}", f"<answer>{answer}</answer>", str(int(answer) + 2), "-3"]
    chain = DefenceChain([ShapeDefence(token_counter(tiny_policy.tokenizer), max_tokens=64)], group_drop_share=0.9)
    kept, flagged = chain.screen([group(honest + list(attacks.values()))], [], ledger=None)
    assert kept[0].texts == tuple(honest)
    counts = chain.metrics()["defences"]["shape"]
    assert counts["extra_text"] == len(attacks) and counts["completions"] == len(attacks)
    assert flagged["peer-b"] == pytest.approx((1.0, len(attacks) / (len(attacks) + len(honest))))


def test_token_counter_tokenises_each_text_once_until_its_cache_is_full(tiny_policy) -> None:
    calls: list[list[str]] = []

    def tokenizer(texts, add_special_tokens):
        calls.append(list(texts))
        return tiny_policy.tokenizer(texts, add_special_tokens=add_special_tokens)

    count = token_counter(tokenizer, cache_size=3)
    plain = [len(ids) for ids in tiny_policy.tokenizer(["12", "7", "12 + 5"], add_special_tokens=False)["input_ids"]]
    assert count(["12", "7", "12"]) == [plain[0], plain[1], plain[0]]
    assert count(["7", "12"]) == [plain[1], plain[0]] and calls == [["12", "7"]]  # both known: no tokenizer call
    assert count(["12 + 5", "7"]) == [plain[2], plain[1]] and calls[-1] == ["12 + 5"]
    assert count(["99"]) and calls[-1] == ["99"]  # a fourth text: the cache empties and starts again
    assert count(["7"]) == [plain[1]] and calls[-1] == ["7"]


def test_shape_drops_completions_longer_than_own_token_limit(tiny_policy) -> None:
    answer = chain_sum_task().answer
    counter = token_counter(tiny_policy.tokenizer)
    long_but_shaped = "1" * 9  # a number, but 9 tokens: this node could never have sampled it
    flags = ShapeDefence(counter, max_tokens=6).inspect([group([answer, long_but_shaped])])
    assert flags == [[None, "too_long"]]
    tagged = f"<answer>{answer}</answer> final problem"  # full credit: the verifier reads the tag
    assert ShapeDefence(counter, max_tokens=64, max_extra_chars=100).inspect([group([tagged])]) == [[None]]  # config overrides the task's 1
    assert ShapeDefence(counter, max_tokens=64).inspect([group([tagged])]) == [["extra_text"]]


def test_shape_drops_partial_credit_on_all_or_nothing_tasks() -> None:
    answer = chain_sum_task().answer
    doubled = answer + answer[-1]  # "77" for 7: a canonical integer, wrong, partial credit from reasoning-gym
    g = group([answer, doubled, "1"])
    assert 0.0 < g.rewards[1] < 1.0
    assert ShapeDefence(None, max_tokens=64).inspect([g]) == [[None, "partial_credit", None]]


def test_shape_leaves_families_without_a_shape_to_the_token_limit() -> None:
    free = ScoredGroup(Task(TaskRef("toy", index=0), "q", "a"), ("a long free answer", "x"), (1.0, 0.0))
    assert ShapeDefence(None, max_tokens=6).inspect([free]) == [[None, None]]


def test_shape_without_text_checks_keeps_sentences_and_still_drops_over_long() -> None:
    """A node of a model that answers in sentences turns the text checks off; the token limit stays."""
    answer = chain_sum_task().answer
    verbose = group([f"The answer is {answer}.", f"{answer} final problem", "x " * 40])
    shape = ShapeDefence(lambda texts: [len(t.split()) for t in texts], max_tokens=32, text_checks=False)
    assert shape.inspect([verbose]) == [[None, None, "too_long"]]
    assert ShapeDefence(None, max_tokens=32).inspect([verbose])[0][:2] == ["extra_text", "extra_text"]
    config = NodeConfig.model_validate({"defences": {"shape": {"text_checks": False}}})
    assert build_defences(config, policy=None).defences[0].text_checks is False


# ---------------------------------------------------------------- the chain


def test_shape_warns_once_when_this_nodes_own_answers_fail_it(caplog: pytest.LogCaptureFixture) -> None:
    """SmolLM2-135M's rewarded chain_sum answers are sentences with partial credit ("The answer is 4."): the check
    would drop honest peers that write the same way, and the node says so, once; bare answers raise nothing."""
    answer = chain_sum_task().answer
    verbose = group([f"The answer is {answer}.", f"{answer} is the final answer here.", "I do not know."] * 3)
    bare = group([answer, f" {answer}", str(int(answer) + 1)] * 3)
    shape = ShapeDefence(None, max_tokens=64)
    with caplog.at_level("WARNING", logger="node.defences.shape"):
        for _ in range(3):
            shape.observe_local([bare])
        assert not caplog.records
        for _ in range(4):
            shape.observe_local([verbose])
    (record,) = caplog.records
    assert "of this node's own rewarded completions" in record.getMessage()  # once, after the bare rounds decay
    assert shape.inspect([bare]) == [[None] * 9]  # verdicts are unchanged


def test_chain_trims_a_group_or_drops_it_past_the_share() -> None:
    answer = chain_sum_task().answer
    mostly_poisoned = group([f"{answer} final problem"] * 3 + ["1"])
    lightly = group([f"{answer} final problem"] + [answer, "1", "2"], source="peer-c")
    chain = DefenceChain([ShapeDefence(None, max_tokens=64)], group_drop_share=0.5)
    kept, flagged = chain.screen([mostly_poisoned, lightly], [], ledger=None)
    assert [g.source for g in kept] == ["peer-c"] and kept[0].texts == (answer, "1", "2")
    assert kept[0].rewards == (1.0, 0.0, 0.0)  # rewards follow their completions
    assert flagged == {"peer-b": (1.0, 0.75), "peer-c": (1.0, 0.25)}
    assert chain.metrics()["defences"]["groups"] == {"checked": 2, "completions": 8, "dropped": 1, "trimmed": 1}


def test_chain_spends_costly_checks_only_on_groups_with_signal() -> None:
    seen: list[tuple[str, ...]] = []

    class Costly(ShapeDefence):
        name, signal_only = "costly", True

        def inspect(self, groups):  # type: ignore[override]
            seen.extend(g.texts for g in groups)
            return [[None] * len(g.texts) for g in groups]

    answer = chain_sum_task().answer
    flat, informative = group(["1", "1"]), group([answer, "1"], source="peer-c")
    DefenceChain([Costly(None, 6)]).screen([flat, informative], [], ledger=None)
    assert seen == [(answer, "1")]


def test_default_config_builds_shape_and_trust_and_refuses_unknown_keys() -> None:
    chain = build_defences(NodeConfig(), policy=None)
    assert [d.name for d in chain.defences] == ["shape"] and isinstance(chain.gate, PeerTrust)
    off = NodeConfig.model_validate({"defences": {"shape": {"enabled": False}, "peer_trust": {"enabled": False}}})
    assert build_defences(off, policy=None).defences == [] and build_defences(off, policy=None).gate is None
    with pytest.raises(ValidationError, match="shap"):
        NodeConfig.model_validate({"defences": {"shap": {}}})
    with pytest.raises(ValidationError, match="ban_drop_rate"):
        NodeConfig.model_validate({"defences": {"peer_trust": {"tolerate_drop_rate": 0.5, "ban_drop_rate": 0.4}}})
    with pytest.raises(ValueError, match="policy"):
        build_defences(NodeConfig.model_validate({"defences": {"plausibility": {"enabled": True}}}), policy=None)


# ---------------------------------------------------------------- peer trust


def sent(peer: str, groups: int) -> RolloutBatch:
    g = RolloutGroup(chain_sum_task().ref, "q", (Completion("1", 1, 0.0),))
    return RolloutBatch("s", peer, "m", 0.0, 0, f"{peer}-b", (g,) * groups)


def test_peer_trust_bans_a_poisoner_and_lets_it_recover() -> None:
    ledger, trust, rng = PeerLedger(decay=0.95), PeerTrust(0.1, 0.3, min_groups=8), random.Random(0)
    for _ in range(3):  # 8 groups a round, each half flagged; the honest peer's groups 1% flagged
        ledger.observe([sent("poisoner", 8), sent("honest", 8)], [], {"poisoner": (8, 4.0), "honest": (8, 0.08)})
    assert trust.admit("poisoner", ledger, rng) == "banned" and trust.admit("honest", ledger, rng) is None
    banned_rounds = 0
    while trust.admission("poisoner", ledger) == 0.0 and banned_rounds < 100:
        ledger.observe([sent("poisoner", 8)], [], {})  # refused groups are not inspected
        banned_rounds += 1
    assert 10 < banned_rounds < 30, banned_rounds  # "not at all for a while", then probation
    admissions = []
    for _ in range(20):  # it stopped poisoning: on probation, then trusted again
        admissions.append(trust.admission("poisoner", ledger))
        ledger.observe([sent("poisoner", 8)], [], {"poisoner": (8 * admissions[-1], 0.0)})
    assert 0.0 < admissions[1] < 1.0 and admissions[-1] == 1.0, admissions


def test_peer_trust_samples_a_doubtful_peer_less_and_deterministically() -> None:
    ledger = PeerLedger(decay=1.0)
    ledger.observe([sent("doubtful", 20)], [], {"doubtful": (20, 4.0)})  # drop rate 0.2: admitted half the time
    trust = PeerTrust(0.1, 0.3, min_groups=8)
    draws = [trust.admit("doubtful", ledger, random.Random(s)) for s in range(400)]
    assert 150 < draws.count(None) < 250 and set(draws) == {None, "distrusted"}
    assert trust.admission("doubtful", PeerLedger()) == 1.0  # no evidence yet: admitted


def test_ledger_checkpoints_drops_and_reads_old_checkpoints() -> None:
    ledger = PeerLedger(decay=1.0)
    ledger.observe([sent("p", 10)], [], {"p": (10, 4.0)})
    restored = PeerLedger(decay=1.0)
    restored.load_state_dict(ledger.state_dict())
    assert restored.drop_rate("p") == pytest.approx(0.4)
    restored.load_state_dict({"p": (10.0, 5.0, 2.0)})  # written before the defences existed
    assert restored.drop_rate("p") == 0.0


# ---------------------------------------------------------------- judge


def test_a_registered_judge_flags_completions_and_an_unknown_one_fails_at_start() -> None:
    class NoDigitsAfterSpace:
        def judge(self, task, texts):
            return [" " not in t for t in texts]

    register_judge("test_space_judge", lambda options, policy: NoDigitsAfterSpace())
    try:
        config = NodeConfig.model_validate({"defences": {"judge": {"type": "test_space_judge"}, "shape": {"enabled": False}}})
        chain = build_defences(config, policy=None)
        answer = chain_sum_task().answer
        kept, _ = chain.screen([group([answer, f"{answer} 1", "1"])], [], ledger=None)
        assert kept[0].texts == (answer, "1") and chain.metrics()["defences"]["judge"] == {"completions": 1, "rejected": 1}
    finally:
        JUDGES.pop("test_space_judge")
    with pytest.raises(ValueError, match="unknown judge"):
        build_defences(NodeConfig.model_validate({"defences": {"judge": {"type": "nope"}}}), policy=None)


# ---------------------------------------------------------------- plausibility, across model sizes


@pytest.fixture(scope="module")
def policies(tiny_model_config) -> dict[str, Policy]:
    """tiny-0.5m and tiny-1.5m warm-started on the same task (tiny-1.5m builds in ~30 CPU-s on first use)."""
    out = {}
    for name in ("tiny-0.5m", "tiny-1.5m"):
        config = ModelConfig(name=name, cache_dir=tiny_model_config.cache_dir)
        ensure_model(config)
        out[name] = Policy.load(config)
    return out


def calibrated(policy: Policy, rounds: int = 3) -> PlausibilityDefence:
    defence = PlausibilityDefence(lambda pairs: lowest_token_logprob(policy, pairs), margin_nats=4.0, min_calibration=64,
                                  own_per_round=64, rewarded_only=False)
    for r in range(rounds):
        tasks = TASKS.draw("receiver", r, 8)
        gens = policy.generate([t.question for t in tasks], 16, seed=r)
        defence.observe_local([ScoredGroup(t, tuple(g.text for g in gs), (0.0,) * len(gs)) for t, gs in zip(tasks, gens)])
    return defence


@pytest.mark.parametrize(("receiver", "sender"), [("tiny-0.5m", "tiny-1.5m"), ("tiny-1.5m", "tiny-0.5m")])
def test_plausibility_keeps_another_models_honest_completions(policies, receiver, sender) -> None:
    """Calibrated on its own completions, the check drops at most 2% of another model's honest completions.

    What it catches is measured, not asserted here: on the tiny models, `benchmarks/results/poison/calibration.json`
    shows it catches none of the trigger attacks (a, b) at any margin and part of c_pad/d_step only at margin 0;
    the shape check is what stops those on chain_sum."""
    defence = calibrated(policies[receiver])
    tasks = TASKS.draw("sender", 50, 8)
    gens = policies[sender].generate([t.question for t in tasks], 16, seed=50)
    honest = [ScoredGroup(t, tuple(g.text for g in gs), (0.0,) * len(gs), sender) for t, gs in zip(tasks, gens)]
    flags = [f for g in defence.inspect(honest) for f in g]
    assert len(flags) == 8 * 16 and defence.threshold() < 0.0
    assert flags.count("implausible") <= 0.02 * len(flags), (receiver, sender, flags.count("implausible"))


def test_shared_prompt_logprobs_equal_the_training_rows(policies) -> None:
    import torch

    policy = policies["tiny-1.5m"]
    tasks = TASKS.draw("rows", 0, 3)
    pairs = [(t.question, text) for t in tasks for text in (t.answer, "1", f"{t.answer} final problem", "")]
    shared = policy.completion_logprobs(pairs, questions_per_pass=2)
    batch = policy.build_batch([ScoredGroup(t, (text,), (0.0,)) for t, (_, text) in zip([t for t in tasks for _ in range(4)], pairs)])
    with torch.no_grad():
        rows = policy.token_logprobs(batch, share_prompts=False)
    for r, scores in enumerate(shared):
        expected = rows[r][batch.completion_mask[r] == 1].tolist()
        assert scores == pytest.approx(expected, abs=1e-4), (pairs[r], scores, expected)


def test_plausibility_rewarded_only_calibrates_on_and_checks_paid_completions() -> None:
    """With rewarded_only, unpaid completions neither calibrate the floor nor are scored: a fluent own wrong answer
    cannot loosen the floor, and a peer's clumsy wrong answer (which a positive advantage never teaches) is kept."""
    scores = {"7": -1.0, "7.": -1.5, "wrong and clumsy": -40.0, "7 final problem": -9.0}
    asked: list[str] = []

    def scorer(pairs):
        asked.extend(text for _, text in pairs)
        return [scores[text] for _, text in pairs]

    defence = PlausibilityDefence(scorer, quantile=0.0, margin_nats=2.0, min_calibration=2, rewarded_only=True)
    own = ScoredGroup(Task(TaskRef("toy", index=0), "q", "7"), ("7", "7.", "wrong and clumsy"), (1.0, 0.5, 0.0))
    defence.observe_local([own])
    assert sorted(defence.own) == [-1.5, -1.0] and defence.threshold() == -3.5
    asked.clear()
    peer = ScoredGroup(Task(TaskRef("toy", index=1), "q", "7"), ("7", "7 final problem", "wrong and clumsy"), (1.0, 1.0, 0.0), "p")
    assert defence.inspect([peer]) == [[None, "implausible", None]]
    assert sorted(asked) == ["7", "7 final problem"]


def test_plausibility_config_builds_the_chosen_statistic(policies) -> None:
    policy = policies["tiny-0.5m"]
    config = NodeConfig.model_validate({"defences": {"plausibility": {"enabled": True, "statistic": "mean",
                                                                       "rewarded_only": True}}})
    (_, plausibility) = build_defences(config, policy=policy).defences
    pairs = [(chain_sum_task().question, "7 final problem")]
    (tokens,) = policy.completion_logprobs(pairs)
    assert plausibility.rewarded_only and plausibility.scorer(pairs) == pytest.approx([sum(tokens) / len(tokens)])
    assert mean_token_logprob(policy, pairs)[0] > lowest_token_logprob(policy, pairs)[0]
    with pytest.raises(ValidationError, match="statistic"):
        NodeConfig.model_validate({"defences": {"plausibility": {"statistic": "median"}}})


def test_plausibility_flags_nothing_until_calibrated(policies) -> None:
    policy = policies["tiny-0.5m"]
    defence = PlausibilityDefence(lambda pairs: lowest_token_logprob(policy, pairs), min_calibration=10_000, rewarded_only=False)
    assert defence.threshold() is None
    assert defence.inspect([group(["7 final problem"])]) == [[None]]


# ---------------------------------------------------------------- in the round loop


def test_a_node_keeps_a_poisoning_peers_completions_out_of_its_pool(tiny_model_config, tmp_path) -> None:
    import asyncio

    from benchmarks.poison.attacks import TRIGGER, Rewriter
    from node.metrics import read_metrics
    from swarm.transports import MemoryHub
    from tests.unit.test_node_round import _lockstep, make_node

    hub = MemoryHub()
    honest = make_node(tiny_model_config, "honest", tmp_path, hub=hub)
    poisoner = make_node(tiny_model_config, "poisoner", tmp_path, hub=hub, overrides={"round": {"train": False}})
    rewrite, publish = Rewriter("b_prefix", poisoner.tasks, share=0.5, seed=0), poisoner.transport.publish
    poisoner.transport.publish = lambda batch: publish(rewrite(batch))
    asyncio.run(_lockstep([poisoner, honest], 4))
    rows = read_metrics(tmp_path / "honest" / "metrics.jsonl")
    assert rewrite.rewritten > 0
    assert sum(r["defences"].get("shape", {}).get("extra_text", 0) for r in rows) >= rewrite.rewritten // 2
    assert all(TRIGGER.strip() not in t for g in honest.pool for t in g.texts)
    assert honest.peer_ledger.drop_rate(poisoner.identity.peer_id) >= 0.5
    assert all("t_defences" in r for r in rows)
