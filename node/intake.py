"""Intake: turn verified peer batches into training candidates, trusting none of their claims.

A batch has already passed the protocol's signature, schema and bound checks. What it claims is
still untrusted: the question text, the answer it implies and the sender's rewards. For each group
this module rebuilds the task from its `TaskRef` (question and ground truth computed here), re-scores
every completion with this node's own reward function and labels the group with its sender.

    >>> from collections import Counter
    >>> from node.config import RewardsConfig, TasksConfig
    >>> from node.rewards import build_reward_fn
    >>> from node.tasks import TaskSource
    >>> from protocol.messages import Completion, RolloutBatch, RolloutGroup, TaskRef
    >>> tasks = TaskSource(TasksConfig())
    >>> ref = tasks.draw_refs("p", 0, 1)[0]           # its answer is 9
    >>> forged = RolloutGroup(ref, "1 + 1 =", (Completion("2", 1, 1.0), Completion("9", 1, 0.0)))
    >>> batch = RolloutBatch("s", "peer-b", "m", 1.7e9, 0, "b0", (forged,))
    >>> groups, counts = rescore_external([batch], tasks, build_reward_fn(RewardsConfig()))
    >>> groups[0].rewards, groups[0].source, counts
    ((0.0, 1.0), 'peer-b', Counter({'question_mismatch': 1}))

Counted reasons: every `TaskError.reason` (unknown_generator, unsupported_generator, not_accepted,
bad_config, seed_mismatch, index_out_of_range, free_text, generation_failed), "question_mismatch"
(the group is kept with the rebuilt question), "free_text_accepted" and "empty_group".

Reference: the SAPO paper (arXiv 2509.08721), section 3: "each node scores rollouts with its own
reward model"; rl-swarm's genrl is the counter-example that trains on the sender's answer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Sequence

from node.tasks import TaskError, TaskSource
from node.types import GroupOrigin, ScoredGroup, Task
from protocol.messages import RolloutBatch, RolloutGroup
from protocol.printable import peer_text

logger = logging.getLogger(__name__)

RewardFn = Callable[[Task, Sequence[str]], list[float]]


def rescore_external(batches: Sequence[RolloutBatch], tasks: TaskSource, reward_fn: RewardFn, *,
                     accept_free_text: bool = False) -> tuple[list[ScoredGroup], Counter[str]]:
    """Rebuild, re-score and label every group of `batches`; count what was dropped or corrected.

    Args:
        batches: Batches that passed protocol validation (signed, within bounds).
        tasks: This node's task source, which rebuilds each `TaskRef`.
        reward_fn: This node's verifier; the sender's `sender_reward` is never read.
        accept_free_text: Keep free-text groups (question as sent, empty answer), scored by `reward_fn`
            alone. Off by default: such a group's ground truth cannot be checked.

    Returns:
        The re-scored groups (source = sender peer id, origin = the batch's window and round), and a
        Counter of reasons.
    """
    kept: list[ScoredGroup] = []
    counts: Counter[str] = Counter()
    for batch in batches:
        origin = GroupOrigin(window=batch.window, sender_round=batch.round)
        for group in batch.groups:
            task = _task_of(group, tasks, counts, accept_free_text)
            if task is None:
                continue
            texts = tuple(c.text for c in group.completions)
            kept.append(ScoredGroup(task=task, texts=texts, rewards=tuple(reward_fn(task, texts)), source=batch.sender,
                                    origin=origin))
    return kept, counts


def claiming_signal(batches: Sequence[RolloutBatch]) -> tuple[list[RolloutBatch], int]:
    """Each batch with only its groups whose sender's rewards are not all equal (the others cannot be chosen if
    our verifier agrees with the sender's), and how many groups were left out. A sender's claim decides what
    is re-scored, never what is learned: `rescore_external` scores the groups kept as it scores any."""
    kept, skipped = [], 0
    for batch in batches:
        groups = tuple(g for g in batch.groups if len({c.sender_reward for c in g.completions}) > 1)  # NaN != NaN: kept
        skipped += len(batch.groups) - len(groups)
        kept.append(batch if len(groups) == len(batch.groups) else dataclasses.replace(batch, groups=groups))
    return kept, skipped


def _task_of(group: RolloutGroup, tasks: TaskSource, counts: Counter[str], accept_free_text: bool) -> Task | None:
    """The task to train `group` on, or None (with its reason counted)."""
    if not group.completions:
        counts["empty_group"] += 1
        return None
    if group.task.kind == "free" and accept_free_text:
        counts["free_text_accepted"] += 1
        return Task(ref=group.task, question=group.question, answer="")
    try:
        task = tasks.rebuild(group.task)
    except TaskError as err:
        counts[err.reason] += 1
        logger.debug("dropped external group %s: %s", peer_text(group.task.generator), peer_text(str(err), 200, quote=False))
        return None
    if group.question != task.question:
        counts["question_mismatch"] += 1  # kept: the rebuilt question is the one we train on
    return task
