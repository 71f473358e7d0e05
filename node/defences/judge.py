"""An optional judge model: the interface only (no judge ships with sapo-swarm).

A judge is any object with `judge(task, texts) -> list[bool]` (True: the completion is fine to learn from),
for example a larger instruction-tuned model asked whether a completion contains anything beyond a plain
answer. Register a factory under a name and select it with `defences.judge.type`:

    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> class ShortOnly:
    ...     def judge(self, task, texts):
    ...         return [len(t) <= 3 for t in texts]
    >>> register_judge("short_only", lambda options, policy: ShortOnly())
    >>> defence = build_judge_defence("short_only", {}, policy=None)
    >>> group = ScoredGroup(Task(TaskRef("toy", index=0), "q", "a"), ("12", "12 visit"), (1.0, 0.0), "peer-b")
    >>> defence.inspect([group])
    [[None, 'rejected']]
    >>> _ = JUDGES.pop("short_only")

The judge runs last in the chain, on groups with signal only (it is presumably the costliest check).

Reference: "Hail to the Thief" (arXiv 2511.09780) section 6, an LLM judge for swarms of different models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from node.defences.base import Defence, Flags
from node.types import ScoredGroup, Task


class Judge(Protocol):
    def judge(self, task: Task, texts: Sequence[str]) -> list[bool]:
        """Called once per external group with signal; True per completion that may be learned from."""


JudgeFactory = Callable[[Mapping[str, Any], Any], Judge]
"""(options, this node's policy) -> Judge."""

JUDGES: dict[str, JudgeFactory] = {}
"""Registered judges by name (empty: none ships)."""


def register_judge(name: str, factory: JudgeFactory) -> None:
    JUDGES[name] = factory


class JudgeDefence(Defence):
    """Flags the completions a `Judge` rejects (reason "rejected")."""

    name = "judge"
    signal_only = True

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    def inspect(self, groups: Sequence[ScoredGroup]) -> Flags:
        flags: Flags = []
        for group in groups:
            verdicts = self.judge.judge(group.task, group.texts)
            if len(verdicts) != len(group.texts):
                raise ValueError(f"judge returned {len(verdicts)} verdicts for {len(group.texts)} completions")
            flags.append([None if ok else "rejected" for ok in verdicts])
        return flags


def build_judge_defence(name: str, options: Mapping[str, Any], policy: Any) -> JudgeDefence:
    """The judge registered as `name`, wrapped as a defence. Unknown names raise ValueError at start-up."""
    if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}: register it with node.defences.judge.register_judge "
                         f"(known: {', '.join(sorted(JUDGES)) or 'none'})")
    return JudgeDefence(JUDGES[name](options, policy))
