"""Forged claims (T5): validly signed, well-formed batches whose content lies, built against real tasks.

The transport accepts these (they are honest-looking records from an admitted key); the receiving
node's intake (`node.intake.rescore_external`) must not believe them:

- ``forged_answer``: a real task with a wrong completion claimed right (reward 1.0): re-scored 0;
- ``forged_taskref``: one group each with an unknown generator, an index out of range, and a question
  whose ground truth is not the generator's ("1 + 1 =" answered 2, or "2 + 2 =" answered 4 when the real answer
  is 2): the first two are dropped and counted,
  the third is counted and trained on the rebuilt question (its completion scored against the real answer).

    tasks = TaskSource(TasksConfig())
    sealed = seal(forged_batch("forged_taskref", ident, "swarm", window, "t1", tasks), ident, secret)
"""

from __future__ import annotations

import time
from dataclasses import replace

from node.tasks import TaskSource
from protocol import Completion, Identity, RolloutBatch, RolloutGroup

INTAKE_CLASSES: dict[str, dict[str, int]] = {
    "forged_answer": {},
    "forged_taskref": {"unknown_generator": 1, "index_out_of_range": 1, "question_mismatch": 1},
}
"""class -> what a receiving node's intake counts for one batch (forged_answer: nothing, its reward is re-scored 0)."""


def _answer(text: str) -> str:
    return f"<answer>{text}</answer>"


def _wrong(answer: str) -> str:
    return str(int(answer) + 1) if answer.lstrip("-").isdigit() else answer + "x"


def forged_batch(kind: str, ident: Identity, swarm_id: str, window: int, tag: str, tasks: TaskSource) -> RolloutBatch:
    """The batch of class `kind` (see `INTAKE_CLASSES`), signed by nobody yet: seal it to send it."""
    refs = tasks.draw_refs(ident.peer_id, window, 2)
    task, other = tasks.rebuild(refs[0]), tasks.rebuild(refs[1])
    if kind == "forged_answer":
        lie = _answer(_wrong(task.answer))
        groups = (RolloutGroup(refs[0], task.question, (Completion(lie, 3, 1.0), Completion(lie, 3, 1.0))),)
    elif kind == "forged_taskref":
        claimed_right = (Completion(_answer("2"), 3, 1.0),)
        # the sender's question and its answer, never the rebuilt task's answer (else re-scoring would find it right)
        fake_question, fake_answer = ("1 + 1 =", "2") if other.answer != "2" else ("2 + 2 =", "4")
        groups = (
            RolloutGroup(replace(refs[0], generator="no_such_generator"), "q", claimed_right),
            RolloutGroup(replace(refs[0], index=tasks.config.dataset_size + 5), "q", claimed_right),
            RolloutGroup(refs[1], fake_question, (Completion(_answer(fake_answer), 3, 1.0),)),
        )
    else:
        raise KeyError(kind)
    return RolloutBatch(swarm_id, ident.peer_id, "tiny", time.time(), window, f"hostile-{kind}-{tag}", groups)
