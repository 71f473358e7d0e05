"""Shape defence: an external completion must be a whole answer, in a form the verifier accepts, and no
longer than this node's own completions may be.

Three checks per completion:
- "extra_text": unwrap one accepted wrapper (`<answer>X</answer>`, `answer: X`, or the bare text, the
  forms `node.rewards` extracts from), then everything outside the longest answer-shaped span of X, plus
  whitespace around the completion, must fit the task family's `max_extra_chars` (`node.tasks.shapes`).
  A family without a registered shape skips this check.
- "partial_credit": the family's answers are all-or-nothing (`AnswerShape.all_or_nothing`) but this node's
  verifier gave the completion a reward strictly between 0 and 1: a wrong answer that contains the right one
  ("77" for 7), which group-relative advantages would teach over the group's plain wrong answers.
- "too_long": re-tokenized with this node's tokenizer, the completion has more than `model.max_new_tokens`
  tokens (plus `token_slack`): this node could never have sampled it, and a long correct answer teaches length.
`text_checks=False` keeps only the last (for a model that answers in sentences: see `observe_local`).

    >>> from node.tasks.shapes import answer_shape
    >>> [extra_chars(t, answer_shape("chain_sum")) for t in ("7", " -4", "answer: 12", "7 final problem", "0007")]
    [0, 1, 0, 14, 3]

Reference: "Hail to the Thief" (arXiv 2511.09780), out-of-context attacks (text added around a right
answer) and the needlessly long answers its own defences let through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from node.defences.base import Defence, Flags
from node.tasks.shapes import AnswerShape, answer_shape
from node.types import ScoredGroup

logger = logging.getLogger(__name__)

OWN_DECAY = 0.9
"""Per-round decay of the counts of this node's own rewarded completions the check would flag."""
OWN_MIN = 16.0
"""Decayed own rewarded completions seen before the node judges its own traffic."""
OWN_WARN_SHARE = 0.5
"""Share of own rewarded completions flagged above which the node warns: the check then drops honest peers too."""

TAGGED = re.compile(r"^<answer>(.*)</answer>$", re.DOTALL | re.IGNORECASE)
PREFIXED = re.compile(r"^answer\s*(?:is)?\s*[:=]\s*(.*)$", re.DOTALL | re.IGNORECASE)
"""The wrappers of `node.rewards.accuracy.extract_answer`, anchored: the wrapper must be the whole completion."""


def unwrap(text: str) -> str:
    """The inside of the one wrapper `text` (stripped) consists of, or the stripped text itself."""
    core = text.strip()
    for wrapper in (TAGGED, PREFIXED):
        match = wrapper.match(core)
        if match:
            return match.group(1).strip()
    return core


def extra_chars(text: str, shape: AnswerShape) -> int:
    """Characters of `text` beyond its wrapper and its longest answer-shaped span (whitespace around counts)."""
    core = unwrap(text)
    outside = len(text) - len(text.strip())
    return outside + len(core) - shape.matched_chars(core)


class ShapeDefence(Defence):
    """Flags completions over the token limit ("too_long"), with text beyond the task's tolerance ("extra_text"), or
    with partial credit on an all-or-nothing task ("partial_credit")."""

    name = "shape"

    def __init__(self, count_tokens: Callable[[Sequence[str]], list[int]] | None, max_tokens: int,
                 max_extra_chars: int | None = None, *, text_checks: bool = True) -> None:
        self.count_tokens, self.max_tokens, self.max_extra_chars = count_tokens, max_tokens, max_extra_chars
        self.text_checks = text_checks
        self.own_seen = self.own_flagged = 0.0
        self.warned = False

    def observe_local(self, local: Sequence[ScoredGroup]) -> None:
        """Check this node's own rewarded completions as a peer's. A model that answers in sentences (a pretrained
        LM on a bare-answer task: SmolLM2-135M's rewarded chain_sum answers are partial credit for a sentence that
        holds the answer) fails the check itself, and so do its honest peers: their groups are dropped and peer
        trust then refuses them. Verdicts do not change here; the node says so in its log, once per episode."""
        rewarded = [g for g in local if any(r > 0.0 for r in g.rewards)]
        flags = self.inspect(rewarded)
        seen = sum(r > 0.0 for g in rewarded for r in g.rewards)
        flagged = sum(r > 0.0 and f is not None for g, marks in zip(rewarded, flags) for r, f in zip(g.rewards, marks))
        self.own_seen = OWN_DECAY * self.own_seen + seen
        self.own_flagged = OWN_DECAY * self.own_flagged + flagged
        share = self.own_flagged / self.own_seen if self.own_seen >= OWN_MIN else 0.0
        if share > OWN_WARN_SHARE and not self.warned:
            logger.warning("the shape check flags %.0f%% of this node's own rewarded completions (extra text, partial "
                           "credit or length): peers that write like this model will have their groups dropped and "
                           "then refused; for a model that answers in sentences set defences.shape.text_checks: false "
                           "and defences.plausibility.enabled: true (as configs/smollm2.yaml does)",
                           100 * share)
            self.warned = True
        elif share < OWN_WARN_SHARE / 2 and self.warned:
            logger.info("the shape check now flags %.0f%% of this node's own rewarded completions", 100 * share)
            self.warned = False

    def inspect(self, groups: Sequence[ScoredGroup]) -> Flags:
        texts = [text for g in groups for text in g.texts]
        counted = iter(self.count_tokens(texts) if self.count_tokens is not None and texts else [0] * len(texts))
        return [self._group(g, [next(counted) for _ in g.texts]) for g in groups]  # one tokenizer call a round

    def _group(self, group: ScoredGroup, lengths: list[int]) -> list[str | None]:
        shape = answer_shape(group.task.ref.generator) if self.text_checks else None
        tolerance = None if shape is None else (shape.max_extra_chars if self.max_extra_chars is None else self.max_extra_chars)
        flags: list[str | None] = []
        # a group repeats its answers: each distinct text is measured once
        extra = {text: extra_chars(text, shape) for text in dict.fromkeys(group.texts)} if shape is not None else {}
        for text, reward, tokens in zip(group.texts, group.rewards, lengths):
            if tokens > self.max_tokens:
                flags.append("too_long")
            elif shape is not None and extra[text] > tolerance:
                flags.append("extra_text")
            elif shape is not None and shape.all_or_nothing and 0.0 < reward < 1.0:
                flags.append("partial_credit")
            else:
                flags.append(None)
        return flags


COUNT_CACHE_SIZE = 4096
"""Texts whose token counts a `token_counter` keeps between calls (emptied when full): peers' answers repeat."""


def token_counter(tokenizer: object, cache_size: int = COUNT_CACHE_SIZE) -> Callable[[Sequence[str]], list[int]]:
    """Tokens per text under `tokenizer` (an HF tokenizer), without special tokens; a text seen before (in this call
    or, up to `cache_size` texts, in an earlier one) is not tokenised again."""
    known: dict[str, int] = {}

    def count(texts: Sequence[str]) -> list[int]:
        new = [text for text in dict.fromkeys(texts) if text not in known]
        if len(known) + len(new) > cache_size:
            known.clear()
            new = list(dict.fromkeys(texts))
        if new:
            ids = tokenizer(new, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
            known.update((text, len(row)) for text, row in zip(new, ids))
        return [known[text] for text in texts]

    return count
