"""The defence chain: checks on peers' completions after re-scoring and before selection.

A peer that passes every protocol check (signed, bounded, its task rebuilt, every completion re-scored here)
can still send completions that earn reward and teach something else: a right answer with a trigger phrase
around it, a wrong step before it, needless filler (arXiv 2511.09780). Each `Defence` looks at external
groups and flags completions with a reason; the `DefenceChain` removes flagged completions, drops a group
whose flagged share is over `defences.group_drop_share`, and reports per sender how many groups it inspected
and how much of each was flagged, which `node.peer_ledger` counts so that `PeerTrust` can take fewer groups from that sender.

    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> class NoSevens(Defence):
    ...     name = "no_sevens"
    ...     def inspect(self, groups):
    ...         return [["seven" if "7" in t else None for t in g.texts] for g in groups]
    >>> group = ScoredGroup(Task(TaskRef("toy", index=0), "q", "a"), ("7", "8", "9"), (1.0, 0.0, 0.0), "peer-b")
    >>> chain = DefenceChain([NoSevens()], group_drop_share=0.5)
    >>> kept, dropped = chain.screen([group], [], ledger=None)
    >>> kept[0].texts, dropped, chain.metrics()["defences"]["no_sevens"]
    (('8', '9'), {'peer-b': (1.0, 0.3333333333333333)}, {'completions': 1, 'seven': 1})

When each hook is called: `observe_local(local)` once a round with this node's own scored groups (those of its
completions the cheap checks before it accept), before `inspect`; `inspect(groups)` once a round with the external groups still to check (each defence sees only
the completions no earlier defence flagged).

Reference: hivemind `dht/validation.py` (small validators composed in order, each returning a verdict).
"""

from __future__ import annotations

import logging
import random
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from node.types import ScoredGroup

logger = logging.getLogger(__name__)

Flags = list[list[str | None]]
"""Per group, per completion: the reason it is flagged, or None when it passes."""


class Defence(ABC):
    """One check on external completions. Subclasses set `name` and implement `inspect`."""

    name: str = "defence"
    signal_only: bool = False
    """Inspect only groups with signal: the sampler drops the others before any update (set for costly checks)."""

    def observe_local(self, local: Sequence[ScoredGroup]) -> None:
        """Called once a round, before `inspect`, with this node's own scored groups as the cheap checks before this
        one would accept them from a peer (calibration on acceptable traffic)."""

    @abstractmethod
    def inspect(self, groups: Sequence[ScoredGroup]) -> Flags:
        """Called once a round with the external groups to check; returns a reason or None per completion."""


class TrustGate(Protocol):
    """Admits or refuses whole groups by their sender before any content check (`node.defences.peer_trust`)."""

    def admit(self, peer: str, ledger: Any, rng: random.Random) -> str | None:
        """None to admit a group from `peer`, else the reason it is refused."""


class DefenceChain:
    """The node's defences in order, with per-round counters for the metrics row."""

    def __init__(self, defences: Sequence[Defence], *, group_drop_share: float = 0.5, gate: TrustGate | None = None,
                 signal_matters: bool = True, seed: int | str = 0) -> None:
        self.defences, self.gate = list(defences), gate
        self.group_drop_share, self.signal_matters = group_drop_share, signal_matters
        self.rng = random.Random(f"defences-{seed}")
        self._counts: dict[str, Counter[str]] = {}
        self._seconds: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()

    def screen(self, external: Sequence[ScoredGroup], local: Sequence[ScoredGroup], ledger: Any
               ) -> tuple[list[ScoredGroup], dict[str, tuple[float, float]]]:
        """Check one round's external groups. Returns the groups to keep (flagged completions removed) and,
        per sender, (groups inspected, summed share of flagged completions) for the peer ledger."""
        self._counts = {"groups": Counter()}
        self._seconds = Counter()
        self._refused = Counter()
        if not external:
            return [], {}  # nothing to check (a silo round, or peers sent nothing usable)
        admitted = self._admit(external, ledger)
        self._calibrate(local)
        flags = self._inspect(admitted)
        return self._apply(admitted, flags)

    def _calibrate(self, local: Sequence[ScoredGroup]) -> None:
        """Show each defence this node's own groups, as the checks before it would pass them from a peer: a
        defence calibrated on own completions then learns what acceptable traffic looks like, not junk that an
        earlier check removes anyway. Only cheap checks (not `signal_only`) filter, and nothing is counted."""
        own = list(local)
        for defence in self.defences:
            with self._timed(defence.name):
                defence.observe_local(own)
                if own and not defence.signal_only:
                    own = [_subgroup(g, [j for j, f in enumerate(marks) if f is None])
                           for g, marks in zip(own, defence.inspect(own)) if None in marks]

    def _admit(self, external: Sequence[ScoredGroup], ledger: Any) -> list[ScoredGroup]:
        if self.gate is None:
            return list(external)
        admitted = []
        with self._timed("peer_trust"):
            for group in external:
                reason = self.gate.admit(group.source, ledger, self.rng)
                if reason is None:
                    admitted.append(group)
                else:
                    self._count("peer_trust", reason)
                    self._refused[group.source] += 1
        return admitted

    def _inspect(self, groups: list[ScoredGroup]) -> Flags:
        flags: Flags = [[None] * len(g.texts) for g in groups]
        for defence in self.defences:
            # (group, its completions no earlier defence flagged); costly checks skip groups without signal
            todo = [(i, [j for j, f in enumerate(flags[i]) if f is None]) for i, g in enumerate(groups)
                    if g.has_signal or not (defence.signal_only and self.signal_matters)]
            todo = [(i, keep) for i, keep in todo if keep]
            with self._timed(defence.name):
                verdicts = defence.inspect([_subgroup(groups[i], keep) for i, keep in todo]) if todo else []
            for (i, keep), reasons in zip(todo, verdicts):
                for j, reason in zip(keep, reasons):
                    if reason is not None:
                        flags[i][j] = f"{defence.name}:{reason}"
                        self._count(defence.name, reason)
        return flags

    def _apply(self, groups: list[ScoredGroup], flags: Flags) -> tuple[list[ScoredGroup], dict[str, tuple[float, float]]]:
        kept: list[ScoredGroup] = []
        screened: dict[str, tuple[float, float]] = {}
        for group, marks in zip(groups, flags):
            share = sum(m is not None for m in marks) / len(marks)
            inspected, flagged = screened.get(group.source, (0.0, 0.0))
            screened[group.source] = (inspected + 1.0, flagged + share)
            self._counts["groups"]["checked"] += 1
            self._counts["groups"]["completions"] += len(marks)
            if share == 0.0:
                kept.append(group)
            elif share > self.group_drop_share or share == 1.0:
                self._counts["groups"]["dropped"] += 1
            else:
                self._counts["groups"]["trimmed"] += 1
                kept.append(_subgroup(group, [j for j, m in enumerate(marks) if m is None]))
        return kept, screened

    def metrics(self) -> dict[str, Any]:
        """This round's counters: {"defences": {name: {"completions": n, reason: n, ...}, "groups": {...},
        "refused_peers": {peer id: groups refused}}, "t_defences": CPU-seconds of this thread spent in the defences}."""
        counts: dict[str, Any] = {name: dict(c) for name, c in self._counts.items()}
        if self._refused:
            counts["refused_peers"] = dict(self._refused)
        return {"defences": counts, "t_defences": round(sum(self._seconds.values()), 5),
                "t_defence": {name: round(s, 5) for name, s in self._seconds.items()}}

    def _count(self, name: str, reason: str) -> None:
        counter = self._counts.setdefault(name, Counter())
        counter["completions" if name != "peer_trust" else "groups"] += 1
        counter[reason] += 1

    def _timed(self, name: str) -> "_CpuTimer":
        return _CpuTimer(self._seconds, name)


class _CpuTimer:
    """Adds the CPU-seconds of the current thread spent inside the block to `seconds[name]`."""

    def __init__(self, seconds: Counter[str], name: str) -> None:
        self.seconds, self.name = seconds, name

    def __enter__(self) -> None:
        self.start = time.thread_time()

    def __exit__(self, *exc: object) -> None:
        self.seconds[self.name] += time.thread_time() - self.start


def _subgroup(group: ScoredGroup, keep: Sequence[int]) -> ScoredGroup:
    """`group` with only the completions at `keep` (rewards follow their completions)."""
    return replace(group, texts=tuple(group.texts[j] for j in keep), rewards=tuple(group.rewards[j] for j in keep))
