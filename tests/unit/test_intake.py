"""Intake: external groups are rebuilt from their TaskRef and re-scored; nothing the sender claims counts."""

from __future__ import annotations

import pytest

from node.config import RewardsConfig, TasksConfig
from node.intake import claiming_signal, rescore_external
from node.rewards import build_reward_fn
from node.tasks import TaskSource
from protocol.messages import Completion, RolloutBatch, RolloutGroup, TaskRef

TASKS = TaskSource(TasksConfig())
REWARD = build_reward_fn(RewardsConfig())


def batch(*groups: RolloutGroup, sender: str = "peer-b") -> RolloutBatch:
    return RolloutBatch("swarm", sender, "tiny", 1.7e9, 0, "b0", tuple(groups))


def honest_group(texts: list[str], sender_reward: float = 1.0) -> RolloutGroup:
    task = TASKS.draw("p", 0, 1)[0]  # "... 2 + 7 =", answer 9
    return RolloutGroup(task.ref, task.question, tuple(Completion(t, 1, sender_reward) for t in texts))


def test_rescoring_ignores_sender_rewards() -> None:
    groups, counts = rescore_external([batch(honest_group(["9", "8", "9"], sender_reward=0.0))], TASKS, REWARD)
    assert groups[0].rewards == (1.0, 0.0, 1.0) and groups[0].source == "peer-b" and not counts
    assert groups[0].task == TASKS.draw("p", 0, 1)[0]


def test_forged_answer_changes_nothing() -> None:
    # the sender claims its question is "1 + 1 =" and that "2" is right: the rebuilt task says 9
    ref = TASKS.draw_refs("p", 0, 1)[0]
    forged = RolloutGroup(ref, "State the final answer to the following arithmetic problem: 1 + 1 =",
                          (Completion("2", 1, 1.0), Completion("2", 1, 1.0), Completion("9", 1, 0.0)))
    groups, counts = rescore_external([batch(forged)], TASKS, REWARD)
    assert groups[0].rewards == (0.0, 0.0, 1.0)
    assert groups[0].task.question.endswith("2 + 7 =") and groups[0].task.answer == "9"
    assert counts == {"question_mismatch": 1}


def test_errors_are_counted_by_reason() -> None:
    good = honest_group(["9"])
    bad = [
        RolloutGroup(TaskRef("nope", {}, 0, 0), "q", (Completion("1", 1, 1.0),)),
        RolloutGroup(TaskRef("chain_sum", {"min_terms": 2}, 0, 10**9), "q", (Completion("1", 1, 1.0),)),
        RolloutGroup(TaskRef("chain_sum", {"min_terms": {"x": 1}}, 0, 0), "q", (Completion("1", 1, 1.0),)),
        RolloutGroup(TaskRef("chain_sum", {}, 0, 0, kind="free"), "q", (Completion("1", 1, 1.0),)),
        RolloutGroup(TaskRef("chain_sum", {}, 0, 0), "q", ()),
    ]
    groups, counts = rescore_external([batch(good, *bad[:2]), batch(*bad[2:], sender="peer-c")], TASKS, REWARD)
    assert len(groups) == 1
    assert counts == {"unknown_generator": 1, "index_out_of_range": 1, "bad_config": 1, "free_text": 1,
                      "empty_group": 1}


def test_free_text_accepted_on_request() -> None:
    free = RolloutGroup(TaskRef("chat", {}, 0, 0, kind="free"), "say hi", (Completion("hi", 1, 1.0),))
    groups, counts = rescore_external([batch(free)], TASKS, lambda task, texts: [0.5] * len(texts),
                                      accept_free_text=True)
    assert groups[0].task.question == "say hi" and groups[0].rewards == (0.5,)
    assert counts == {"free_text_accepted": 1}


@pytest.mark.parametrize("sender", ["peer-b", "peer-z"])
def test_source_is_the_sender(sender: str) -> None:
    groups, _ = rescore_external([batch(honest_group(["9"]), sender=sender)], TASKS, REWARD)
    assert groups[0].source == sender and not groups[0].is_local


def test_claiming_signal_keeps_only_groups_their_sender_scored_unequally() -> None:
    mixed, alike, lone = honest_group(["9", "8"]), honest_group(["9", "9"]), honest_group(["8"])
    mixed = RolloutGroup(mixed.task, mixed.question, (Completion("9", 1, 1.0), Completion("8", 1, 0.0)))
    nan = RolloutGroup(alike.task, alike.question, (Completion("9", 1, float("nan")), Completion("8", 1, float("nan"))))
    whole = batch(mixed, sender="whole")
    kept, skipped = claiming_signal([batch(alike, mixed, lone, nan), whole, batch(alike, sender="none")])
    assert skipped == 3 and kept[1] is whole  # a batch that loses nothing is passed on as it is
    assert [len(b.groups) for b in kept] == [2, 1, 0] and kept[0].groups == (mixed, nan)  # NaN claims are checked
    assert [b.sender for b in kept] == ["peer-b", "whole", "none"]


def test_a_false_claim_of_signal_is_rescored_and_teaches_nothing() -> None:
    plain = honest_group(["8", "7"])
    liar = RolloutGroup(plain.task, plain.question, (Completion("8", 1, 1.0), Completion("7", 1, 0.0)))
    groups, _ = rescore_external(claiming_signal([batch(liar)])[0], TASKS, REWARD)
    assert groups[0].rewards == (0.0, 0.0) and not groups[0].has_signal  # our verifier: both wrong
