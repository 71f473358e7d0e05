"""T5 at the intake level: signed, well-formed batches whose claims are lies, against real rebuilt tasks.

A forged answer (a wrong completion claimed right) is re-scored 0; a forged TaskRef (unknown generator,
index out of range, a question whose ground truth is not the generator's) is dropped or corrected and
counted by reason; honest groups in the same batch still come through with their true rewards.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.config import RewardsConfig, TasksConfig
from node.intake import rescore_external
from node.rewards import build_reward_fn
from node.tasks import TaskSource
from protocol import Completion, Identity, RecordVerifier, RolloutBatch, RolloutGroup, TaskRef, seal

ME, PEER = Identity.from_seed(b"intake-me"), Identity.from_seed(b"intake-peer")


@pytest.fixture(scope="module")
def tasks() -> TaskSource:
    return TaskSource(TasksConfig())


def answer_text(answer: str) -> str:
    return f"<answer>{answer}</answer>"


def through_the_wire(groups: tuple[RolloutGroup, ...]) -> RolloutBatch:
    """Seal and verify as a receiver would: the forgeries are all validly signed."""
    batch = RolloutBatch("s", PEER.peer_id, "m", 1.7e9, 0, "forged", groups)
    verdict = RecordVerifier("s").verify(seal(batch, PEER))
    assert verdict.accepted, verdict
    return verdict.message


def test_forged_answers_rescored_and_forged_refs_counted(tasks: TaskSource) -> None:
    reward_fn = build_reward_fn(RewardsConfig())
    ref, honest_ref, lie_ref = tasks.draw_refs(PEER.peer_id, 0, 3)
    assert len({ref.index, honest_ref.index, lie_ref.index}) == 3
    task, honest_task, lie_task = (tasks.rebuild(r) for r in (ref, honest_ref, lie_ref))
    wrong = str(int(task.answer) + 1) if task.answer.lstrip("-").isdigit() else task.answer + "x"
    forged_answer = RolloutGroup(ref, task.question, (Completion(answer_text(wrong), 3, 1.0),) * 2)
    honest = RolloutGroup(honest_ref, honest_task.question, (Completion(answer_text(honest_task.answer), 3, 0.0),
                                                             Completion(answer_text("nope"), 3, 1.0)))
    # The question says "1 + 1 =" and the completion answers 2 "correctly": the generator's truth differs.
    lie_truth = RolloutGroup(lie_ref, "1 + 1 =", (Completion(answer_text("2"), 3, 1.0),))
    unknown = RolloutGroup(replace(ref, generator="no_such_generator"), "q", (Completion("1", 1, 1.0),))
    out_of_range = RolloutGroup(replace(ref, index=tasks.config.dataset_size + 5), "q", (Completion("1", 1, 1.0),))
    wrong_seed = RolloutGroup(replace(ref, seed=ref.seed + 1), "q", (Completion("1", 1, 1.0),))
    bad_config = RolloutGroup(TaskRef(ref.generator, {"seed": 3}, ref.seed, 0), "q", (Completion("1", 1, 1.0),))
    batch = through_the_wire((forged_answer, honest, lie_truth, unknown, out_of_range, wrong_seed, bad_config))

    kept, counts = rescore_external([batch], tasks, reward_fn)

    by_ref = {g.task.ref.index: g for g in kept}
    assert max(by_ref[ref.index].rewards) == 0.0, "a wrong answer claimed right was not re-scored to 0"
    assert by_ref[honest_ref.index].rewards[0] > by_ref[honest_ref.index].rewards[1], "the honest group lost its true rewards"
    assert by_ref[lie_ref.index].task.question == lie_task.question, "trained on the sender's question"
    if lie_task.answer != "2":
        assert max(by_ref[lie_ref.index].rewards) == 0.0
    assert len(kept) == 3
    assert counts == {"question_mismatch": 1, "unknown_generator": 1, "index_out_of_range": 1,
                      "seed_mismatch": 1, "bad_config": 1}, counts
