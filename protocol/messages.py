"""Typed, immutable messages that travel between sapo-swarm nodes.

A rollout is born in `node/` as plain Python values, becomes one of these messages, is encoded by
`protocol.codec`, sealed (signed) by `protocol.envelope` and read back on the other side by the same
two modules in reverse. Every message carries the protocol version it was written under.

Example:
    >>> ref = TaskRef(generator="chain_sum", config={"min_terms": 2}, seed=7, index=3)
    >>> group = RolloutGroup(task=ref, question="2 + 3 =", completions=(Completion("5", 2, 1.0),))
    >>> group.completions[0].text
    '5'

References: prime-rl `transports/rollouts/types.py` (frozen message types with a schema version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Union

PROTOCOL_VERSION: tuple[int, int] = (1, 2)
"""(major, minor). A reader refuses a newer major; a newer minor may add fields, which it ignores.
1.1: private swarms encrypt envelope bodies (`protocol.envelope`); public records are laid out as in 1.0.
1.2: a `RolloutBatch` may carry its sender's round (`round`); records without it decode with None."""

ConfigValue = Union[str, int, float, bool, None]
TaskKind = Literal["rebuildable", "free"]


# Produced by node/tasks when a task is drawn; consumed by every receiver, which rebuilds the
# question and the ground truth from it instead of trusting the sender's text.
# Invariant: kind == "free" means no ground truth can be rebuilt; generator/config are then advisory.
@dataclass(frozen=True)
class TaskRef:
    generator: str
    """Task generator name, e.g. a reasoning-gym dataset ("chain_sum")."""
    config: Mapping[str, ConfigValue] = field(default_factory=dict)
    """Small, flat generator configuration (scalars only)."""
    seed: int = 0
    """Seed of the generator's dataset."""
    index: int = 0
    """Index of the item inside that dataset."""
    kind: TaskKind = "rebuildable"
    """"free" marks free-text tasks whose answer cannot be rebuilt by a receiver."""


# Produced by node/policy (text, token count) and node/rewards (reward); consumed by receivers,
# which re-tokenize the text and re-score it. `sender_reward` is information only.
@dataclass(frozen=True)
class Completion:
    text: str
    token_count: int
    """Tokens in the sender's own tokenizer; receivers re-tokenize."""
    sender_reward: float
    """The sender's own score, never used for training by a receiver."""


# One question and its L completions. Invariant: len(completions) >= 1.
@dataclass(frozen=True)
class RolloutGroup:
    task: TaskRef
    question: str
    completions: tuple[Completion, ...]


# Produced once per round by a node's publish step; consumed by peers' sampler after validation.
# Invariants: sender == peer id of the signing key; window == floor(created_at / window_seconds)
# at the sender (checked against the DHT key by the receiver); batch_id unique per sender.
# `round` (since 1.2, optional) is the sender's claim, used by receivers only to measure staleness.
@dataclass(frozen=True)
class RolloutBatch:
    swarm_id: str
    sender: str
    model: str
    created_at: float
    window: int
    batch_id: str
    groups: tuple[RolloutGroup, ...]
    round: int | None = None
    """The sender's round when it generated these groups (None: not said, as in records before 1.2)."""
    version: tuple[int, int] = PROTOCOL_VERSION

    @property
    def num_rollouts(self) -> int:
        return sum(len(g.completions) for g in self.groups)


# Produced by each node once per window so peers can list who is alive; consumed by `peers()`.
@dataclass(frozen=True)
class PeerAnnouncement:
    peer_id: str
    model: str
    hardware: str
    software_version: str
    addresses: tuple[str, ...]
    time: float
    swarm_id: str = ""
    window: int = 0
    version: tuple[int, int] = PROTOCOL_VERSION


Message = Union[RolloutBatch, PeerAnnouncement]
