"""Values that cross module boundaries inside a node (never sent on the wire as such).

Flow: tasks -> `Task`; policy -> `Generation`; rewards -> `ScoredGroup`; sampler -> `Selection`;
policy.build_batch -> `TokenBatch`; algorithm -> `UpdateStats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocol.messages import TaskRef


@dataclass(frozen=True)
class Task:
    """A question with its ground truth, rebuilt locally from a `TaskRef`."""

    ref: TaskRef
    question: str
    answer: str
    entry: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The generator's raw item (metadata the scorer needs)."""


@dataclass(frozen=True)
class Generation:
    """One sampled completion in the generating node's own tokenizer."""

    text: str
    token_count: int
    token_ids: tuple[int, ...] = ()
    """The sampled ids, end-of-turn token included when one was produced: what the node trains on."""


@dataclass(frozen=True)
class GroupOrigin:
    """When an external group was generated, as its batch says: for staleness, never for trust."""

    window: int
    """The sender's time window at generation (checked against the record's DHT key by the transport)."""
    sender_round: int | None = None
    """The sender's round at generation (its claim; None from senders before protocol 1.2)."""


@dataclass(frozen=True)
class ScoredGroup:
    """One question with its completions, scored by *this* node's verifier.

    Invariant: len(texts) == len(rewards) >= 1. `source` is "local" or the sender's peer id; `origin`
    is set on external groups by intake. A local group also keeps the token ids it sampled (`token_ids`,
    one tuple per text): the update trains on exactly those, not on a re-tokenization of the text, which
    can differ (a merge the sampler did not take, a special token that decoding drops) and then hides the
    sampled tokens from the gradient.
    """

    task: Task
    texts: tuple[str, ...]
    rewards: tuple[float, ...]
    source: str = "local"
    origin: GroupOrigin | None = None
    token_ids: tuple[tuple[int, ...], ...] = ()
    """Local groups: the sampled ids of each completion (empty for peers' groups: only their text travels)."""

    @property
    def is_local(self) -> bool:
        return self.source == "local"

    @property
    def has_signal(self) -> bool:
        """False when every reward is equal: zero advantage, nothing to learn."""
        return max(self.rewards) - min(self.rewards) > 1e-9


@dataclass
class TokenBatch:
    """Completions re-tokenized for this node's model, ready for log-probs.

    Shapes: input_ids, attention_mask, completion_mask: [B, T] (completion_mask is 1 on completion
    tokens only); group_index: [B] (which selected group each row came from). Tensors live on the
    policy's device.
    """

    input_ids: Any
    attention_mask: Any
    completion_mask: Any
    group_index: Any
    rewards: Any
    """[B] float rewards of each row (this node's verifier)."""


@dataclass(frozen=True)
class UpdateStats:
    loss: float
    num_sequences: int
    num_tokens: int
    extra: dict[str, float] = field(default_factory=dict)
