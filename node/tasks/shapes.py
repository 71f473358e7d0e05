"""Answer shapes: what a task family's whole answer looks like, and how much else a completion may hold.

A verifier that extracts an answer from free text ignores what surrounds it: "7 visit evil.example" and
"3+4=8, so the answer: 7" both contain a right answer. A task family says here what its whole answer is
(a regular expression the answer itself matches), how many characters beyond it, and beyond an accepted
wrapper, a completion may carry (`max_extra_chars`), and whether its verifier's partial credit is meaningful. The receiver's shape defence (`node.defences.shape`)
drops peers' completions over that tolerance. A family with no registered shape gets no such check.

    >>> shape = answer_shape("chain_sum")
    >>> shape.matched_chars("-14"), shape.matched_chars("7 final problem"), shape.max_extra_chars
    (3, 1, 1)
    >>> answer_shape("some_free_text_family") is None
    True

Integer answers are written canonically (no leading zeros, no "+"): reasoning-gym's chain_sum scorer accepts
"0007" as 7 (`compute_decimal_reward`), so zeros are the cheapest filler a length attack could use.

Reference: reasoning-gym `utils.compute_decimal_reward` (what the chain_sum verifier accepts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INTEGER = r"-?(?:0|[1-9][0-9]*)"
"""A canonical integer: an optional minus, no leading zeros."""


@dataclass(frozen=True)
class AnswerShape:
    """The whole-answer form of one task family."""

    pattern: str
    """Regular expression the answer itself matches (searched inside the completion's unwrapped text)."""
    max_extra_chars: int = 0
    """Characters a completion may hold beyond the longest match of `pattern` and an accepted wrapper."""
    all_or_nothing: bool = True
    """A whole answer is right or wrong: partial credit from the verifier (reasoning-gym gives len(R)/len(text)
    when the right answer R is a substring of a wrong one, "77" for 7) marks text around an answer, not a better try."""
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def matched_chars(self, text: str) -> int:
        """Length of the longest span of `text` that is an answer of this shape (0: none)."""
        return max((m.end() - m.start() for m in self._compiled.finditer(text)), default=0)


ANSWER_SHAPES: dict[str, AnswerShape] = {
    # reasoning-gym families whose answer is one integer
    "chain_sum": AnswerShape(INTEGER, max_extra_chars=1),
    "products": AnswerShape(INTEGER, max_extra_chars=1),
    "gcd": AnswerShape(INTEGER, max_extra_chars=1),
    "lcm": AnswerShape(INTEGER, max_extra_chars=1),
    "count_bits": AnswerShape(INTEGER, max_extra_chars=1),
}
"""Shapes by generator name. One extra character allows a space before an answer."""


def register_answer_shape(generator: str, shape: AnswerShape | None) -> None:
    """Give `generator` a whole-answer shape (None removes it: no shape check for that family)."""
    if shape is None:
        ANSWER_SHAPES.pop(generator, None)
    else:
        ANSWER_SHAPES[generator] = shape


def answer_shape(generator: str) -> AnswerShape | None:
    """The registered shape of `generator`'s answers, or None when the family defines none."""
    return ANSWER_SHAPES.get(generator)
