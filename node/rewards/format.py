"""Format reward: 1 when a completion is nothing but an answer in one of the accepted shapes.

Accepted shapes: `<answer>X</answer>`, `Answer: X` or a single plain line `X` (what the tiny
warm-started models write before their end-of-turn token). Anything around the answer (reasoning,
extra lines) gets 0. The reward does not check the answer itself; `accuracy.py` does.

    >>> format_reward(["42", "<answer>42</answer>", "Answer: 42", "I think\\n42", ""])
    [1.0, 1.0, 1.0, 0.0, 0.0]

References: TRL `trl/rewards/format_rewards.py` (`think_format_reward`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TEXT = r"[^\n<]*[^\s<][^\n<]*"  # one line with something visible and no tag
WELL_FORMED = re.compile(rf"^(?:<answer>{_TEXT}</answer>|answer\s*:\s*{_TEXT}|{_TEXT})$", re.IGNORECASE)


def format_reward(completions: Sequence[str]) -> list[float]:
    """Reward completions that consist of exactly one answer, in an accepted shape.

    Args:
        completions: Decoded completion texts, without the end-of-turn token.

    Returns:
        1.0 for a well-formed completion, 0.0 otherwise.

    >>> format_reward(["  7  ", "<answer></answer>"])
    [1.0, 0.0]
    """
    return [1.0 if WELL_FORMED.match(text.strip()) else 0.0 for text in completions]
