"""Answer reward: extract the answer from a completion, then let the task's own generator score it.

The verifier is reasoning-gym's `score_answer` for the rebuilt item (reused, never forked), so a
partial-credit scorer keeps its partial credit. Rewards are in [0, 1].

    >>> from node.tasks import TaskSource
    >>> from node.config import TasksConfig
    >>> task = TaskSource(TasksConfig()).draw("p", 0, 1)[0]
    >>> task.answer
    '9'
    >>> accuracy_reward(task, ["9", "<answer>9</answer>", "The answer: 9", "8", ""])
    [1.0, 1.0, 1.0, 0.0, 0.0]

References: TRL `trl/rewards/accuracy_rewards.py`; nanochat `tasks/gsm8k.py` (`extract_answer`,
`GSM8K.reward`); DeepSeek-R1's `<answer>` tag convention.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from node.tasks import TaskError, score_answer
from node.types import Task
from protocol.printable import peer_text

logger = logging.getLogger(__name__)

ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
ANSWER_PREFIX = re.compile(r"answer\s*(?:is)?\s*[:=]", re.IGNORECASE)


def extract_answer(completion: str) -> str | None:
    """The answer a completion gives, or None when it gives none.

    In order: the inside of the last `<answer>...</answer>`; else the rest of the line after the last
    "answer:"; else the last non-empty line. Tiny warm-started models write the plain answer and stop,
    which is the last line. Source: the `<answer>` convention of DeepSeek-R1 (arXiv 2501.12948) and
    nanochat's `tasks/gsm8k.py` (answer after a marker).

    Args:
        completion: The decoded completion, without the end-of-turn token.

    Returns:
        The stripped answer text, or None for an empty completion or empty tags.

    >>> extract_answer(" 12\\n"), extract_answer("so <answer> 7 </answer>"), extract_answer("Answer: 3 apples")
    ('12', '7', '3 apples')
    >>> extract_answer("   ") is None
    True
    """
    tagged = ANSWER_TAG.findall(completion)
    if tagged:
        return tagged[-1].strip() or None
    prefixed = list(ANSWER_PREFIX.finditer(completion))
    if prefixed:
        rest = completion[prefixed[-1].end():].strip().splitlines()
        return rest[0].strip() if rest else None
    lines = [line.strip() for line in completion.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def accuracy_reward(task: Task, completions: Sequence[str]) -> list[float]:
    """Score each completion's extracted answer with the task's own verifier.

    Args:
        task: The task as rebuilt by this node (its `entry` is what the scorer checks against).
        completions: Decoded completion texts.

    Returns:
        One reward in [0, 1] per completion; 0 when no answer is found or the scorer fails.
    """
    answers = {text: extract_answer(text) for text in dict.fromkeys(completions)}  # a repeated text is read once
    scores = {answer: _score_one(task, answer) for answer in dict.fromkeys(answers.values())}  # and scored once
    return [scores[answers[text]] for text in completions]


def _score_one(task: Task, answer: str | None) -> float:
    if answer is None:
        return 0.0
    try:
        reward = score_answer(task, answer)
    except TaskError:
        raise  # the task itself cannot be opened: the caller's bug, not a bad completion
    except Exception:  # reasoning-gym scorers may raise on malformed answers; that is a wrong answer
        logger.debug("scorer of %s raised on %s", peer_text(task.ref.generator), peer_text(answer), exc_info=True)
        return 0.0
    return min(1.0, max(0.0, float(reward)))
