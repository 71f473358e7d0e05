"""The external pool: peers' re-scored groups held between rounds, bounded in number and in age.

Groups arrive in the order intake produced them and leave when chosen (`consume`), when the pool is
full (oldest first), or when older than `max_age_windows` time windows (`drop_stale`, once a round).
Each group's age is measured two ways: windows since its batch was generated (DHT time, which the
transport checked against the record's key), and rounds its sender has run since (the newest round
this pool has seen from that sender minus the group's round: how many updates old the policy that
wrote it is, when the sender says its round; a sender's claim, used for metrics only).

    >>> from node.types import GroupOrigin, ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> g = lambda i, window, r: ScoredGroup(Task(TaskRef("toy", index=i), "q", "a"), ("x", "y"), (1.0, 0.0),
    ...                                      "peer", GroupOrigin(window, r))
    >>> pool = ExternalPool(max_groups=8, max_age_windows=2)
    >>> pool.add([g(0, 10, 3), g(1, 12, 5)])
    >>> pool.drop_stale(window=13), [x.task.ref.index for x in pool]
    (1, [1])
    >>> pool.ages(list(pool), window=13)
    AgeStats(windows_mean=1.0, windows_max=1, rounds_mean=0.0, rounds_max=0)

References: Echo-2 and other asynchronous RL systems cap rollout age and tag each rollout with the
policy version that made it (shared/sapo.md, "Beyond uniform").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from node.types import ScoredGroup


@dataclass(frozen=True)
class AgeStats:
    """Ages of a set of external groups (None where no group carries the measure)."""

    windows_mean: float | None
    windows_max: int | None
    rounds_mean: float | None
    rounds_max: int | None


class ExternalPool:
    """Bounded, age-limited store of external candidates, in arrival order."""

    def __init__(self, max_groups: int, max_age_windows: int | None = None) -> None:
        self.max_groups, self.max_age_windows = max_groups, max_age_windows
        self.groups: deque[ScoredGroup] = deque(maxlen=max_groups)
        self.newest_round: dict[str, int] = {}
        """Newest round seen per sender, bounded by pruning to the senders still in the pool."""

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[ScoredGroup]:
        return iter(self.groups)

    def add(self, groups: Iterable[ScoredGroup]) -> None:
        """Append `groups` (the oldest ones fall out when the pool is full)."""
        for group in groups:
            self.groups.append(group)
            sender_round = group.origin.sender_round if group.origin is not None else None
            if sender_round is not None:
                self.newest_round[group.source] = max(sender_round, self.newest_round.get(group.source, sender_round))

    def drop_stale(self, window: int) -> int:
        """Drop groups generated more than `max_age_windows` windows before `window`; returns how many."""
        if self.max_age_windows is None:
            return 0
        kept = [g for g in self.groups if (self.age_windows(g, window) or 0) <= self.max_age_windows]
        dropped = len(self.groups) - len(kept)
        if dropped:
            self._replace(kept)
        return dropped

    def consume(self, chosen: Sequence[ScoredGroup]) -> None:
        """Remove the groups a selection took (by identity: equal groups from two batches both stay)."""
        chosen_ids = {id(g) for g in chosen}
        self._replace([g for g in self.groups if id(g) not in chosen_ids])

    def age_windows(self, group: ScoredGroup, window: int) -> int | None:
        """Windows since `group` was generated (0 for the current window); None without an origin."""
        return None if group.origin is None else max(0, window - group.origin.window)

    def age_rounds(self, group: ScoredGroup) -> int | None:
        """Rounds its sender has run since generating `group`, as far as this pool has seen."""
        if group.origin is None or group.origin.sender_round is None:
            return None
        return max(0, self.newest_round.get(group.source, group.origin.sender_round) - group.origin.sender_round)

    def ages(self, groups: Sequence[ScoredGroup], window: int) -> AgeStats:
        """Mean and max age of `groups` in windows and in sender rounds."""
        windows = [a for a in (self.age_windows(g, window) for g in groups) if a is not None]
        rounds = [a for a in (self.age_rounds(g) for g in groups) if a is not None]
        return AgeStats(sum(windows) / len(windows) if windows else None, max(windows) if windows else None,
                        sum(rounds) / len(rounds) if rounds else None, max(rounds) if rounds else None)

    def _replace(self, kept: list[ScoredGroup]) -> None:
        self.groups.clear()
        self.groups.extend(kept)
        if len(self.newest_round) > len(self.groups):  # forget senders with nothing left in the pool
            present = {g.source for g in self.groups}
            self.newest_round = {s: r for s, r in self.newest_round.items() if s in present}
