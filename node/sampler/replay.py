"""Replay of this node's own past informative groups as candidates for the J slots (`sampler.replay`).

The control that asks whether peers' groups teach more than a node's own history: with `max_groups` > 0
the node keeps its last `max_groups` informative local groups (those the zero-advantage filter kept) and
offers them, beside peers' groups, as candidates for the update's J external slots. A replayed group is
learned from like an external one (the `algorithm.external_advantage` rule applies: its completions came
from an older policy), and it stays in the buffer when chosen, so a node whose own signal is scarce fills
its update from what it solved before. The round's own groups join after its selection, so a round
never takes a group twice.

    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import TaskRef
    >>> g = lambda i, *r: ScoredGroup(Task(TaskRef("toy", index=i), "q", "a"), ("x",) * len(r), r)
    >>> replay = ReplayBuffer(max_groups=2)
    >>> replay.add([g(0, 1.0, 0.0), g(1, 0.0, 0.0), g(2, 0.0, 1.0), g(3, 1.0, 1.0, 0.0)], window=7, round_index=3)
    >>> [(x.task.ref.index, x.source, x.origin.window) for x in replay]
    [(2, 'replay', 7), (3, 'replay', 7)]
    >>> is_replayed(next(iter(replay))), len(replay)
    (True, 2)

State is not checkpointed: a restarted node refills the buffer from its next rounds.

Reference: experience replay (Lin 1992); Mutual RL (arXiv 2605.07244) uses own-history replay as the
control for transfer from peers.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Iterator

from node.types import GroupOrigin, ScoredGroup

REPLAY_SOURCE = "replay"
"""`ScoredGroup.source` of a replayed group: not "local", so the external advantage rule applies to it.
Peers' groups carry the sender's peer id, which is never this word."""


def is_replayed(group: ScoredGroup) -> bool:
    """Whether `group` came from this node's replay buffer."""
    return group.source == REPLAY_SOURCE


class ReplayBuffer:
    """The last `max_groups` informative local groups, oldest first; 0 keeps none."""

    def __init__(self, max_groups: int) -> None:
        self.max_groups = max_groups
        self.groups: deque[ScoredGroup] = deque(maxlen=max(1, max_groups))

    def __len__(self) -> int:
        return len(self.groups) if self.max_groups else 0

    def __iter__(self) -> Iterator[ScoredGroup]:
        return iter(self.groups) if self.max_groups else iter(())

    def add(self, groups: Iterable[ScoredGroup], window: int, round_index: int) -> None:
        """Keep the informative ones of a round's local `groups`, stamped with the round that made them."""
        if not self.max_groups:
            return
        origin = GroupOrigin(window, round_index)
        self.groups.extend(dataclasses.replace(g, source=REPLAY_SOURCE, origin=origin) for g in groups if g.has_signal)
