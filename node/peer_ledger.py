"""Per-peer history for SAPO's selection: how often a peer's groups were worth training on.

A group a peer shares can fail twice before it reaches the update: intake rejects it (its task cannot
be rebuilt), or it survives but carries no signal (every completion got the same reward from *our*
verifier, so its advantage is zero and the filter drops it). The ledger counts, per sender, groups
received, groups that survived intake and groups with signal, and scores a peer by its smoothed rate of
useful groups: (useful + a) / (received + a + b), the posterior mean of a Beta(a, b) prior. Counts
decay every round, so a peer that stops sharing drifts back to the prior and a peer that improves can
recover. It also sums, per sender, the share of completions the node's defences flagged in its groups
in the groups they inspected (`inspected`, `dropped`, `drop_rate`), which `node.defences.peer_trust` reads to take fewer groups from a poisoning peer;
the same decay lets a peer that stops recover. The node checkpoints the counts with its round (`state_dict`), so
a restart keeps what it learned.

    >>> from node.types import ScoredGroup, Task
    >>> from protocol.messages import Completion, RolloutBatch, RolloutGroup, TaskRef
    >>> ref = TaskRef("toy", index=0)
    >>> sent = lambda peer, n: RolloutBatch("s", peer, "m", 0.0, 0, "b", (RolloutGroup(ref, "q", (Completion("x", 1, 0.0),)),) * n)
    >>> got = lambda peer, *r: ScoredGroup(Task(ref, "q", "a"), ("x",) * len(r), r, peer)
    >>> ledger = PeerLedger(decay=1.0)
    >>> ledger.observe([sent("good", 2), sent("bad", 2)], [got("good", 1.0, 0.0), got("good", 0.0, 1.0), got("bad", 1.0, 1.0)])
    >>> ledger.records["bad"]
    PeerRecord(received=2.0, survived=1.0, useful=0.0, inspected=0.0, dropped=0.0)
    >>> snap = ledger.snapshot()
    >>> snap.score("good"), snap.score("bad"), snap.score("never-seen")
    (0.75, 0.25, 0.5)

The "peer_useful" strategy (`node.sampler.strategies`) draws J candidates with probability proportional
to their sender's score. The node hands strategies a read-only `PeerUsefulness` snapshot in their
`SelectionContext` (strategies stay pure functions of their arguments); the ledger's settings are the
config section `sampler.peer_ledger` (decay 0.95 per round, prior pseudo-counts a = b = 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from node.types import ScoredGroup
from protocol.messages import RolloutBatch

FORGET_BELOW = 1e-2
"""A record whose decayed received count falls below this is forgotten (it would score as the prior)."""


@dataclass
class PeerRecord:
    """Decayed counts of one sender's groups (floats: each round multiplies them by the decay)."""

    received: float = 0.0
    """Groups the peer sent us (every group of its batches that reached intake)."""
    survived: float = 0.0
    """Groups intake accepted (task rebuilt and re-scored by our verifier)."""
    useful: float = 0.0
    """Surviving groups with signal: not all of their rewards are equal."""
    inspected: float = 0.0
    """Groups the node's defences inspected (`node.defences`; a group refused for its sender is not inspected)."""
    dropped: float = 0.0
    """Share of completions the defences flagged, summed over the peer's inspected groups."""

    def scale(self, factor: float) -> None:
        self.received, self.survived, self.useful = self.received * factor, self.survived * factor, self.useful * factor
        self.inspected, self.dropped = self.inspected * factor, self.dropped * factor


@dataclass(frozen=True)
class PeerUsefulness:
    """A read-only view of the ledger's scores at one round; an unknown peer scores `prior`."""

    scores: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    prior: float = 0.5

    def score(self, peer: str) -> float:
        return self.scores.get(peer, self.prior)


@dataclass
class PeerLedger:
    """Counts per sender, updated once a round by the node (`observe`) and read through `snapshot`."""

    decay: float = 0.95
    """Factor applied to every count once a round before the new counts are added (1.0: never forget)."""
    prior_useful: float = 1.0
    """a of the Beta(a, b) prior: pseudo-counts of useful groups."""
    prior_useless: float = 1.0
    """b of the Beta(a, b) prior: pseudo-counts of groups that were rejected or had no signal."""
    records: dict[str, PeerRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"peer ledger decay must be in (0, 1], got {self.decay}")
        if self.prior_useful <= 0.0 or self.prior_useless <= 0.0:
            raise ValueError("peer ledger prior pseudo-counts must be > 0 (a peer's weight must stay positive)")

    @property
    def prior(self) -> float:
        return self.prior_useful / (self.prior_useful + self.prior_useless)

    def observe(self, batches: Sequence[RolloutBatch], accepted: Iterable[ScoredGroup],
                screened: Mapping[str, tuple[float, float]] | None = None) -> None:
        """One round: decay every count, then add what `batches` sent, which groups intake (and the defences)
        `accepted`, and per sender what the defences `screened`: (groups inspected, flagged share summed)."""
        for peer in list(self.records):
            self.records[peer].scale(self.decay)
            if self.records[peer].received < FORGET_BELOW:
                del self.records[peer]
        for batch in batches:
            self._record(batch.sender).received += len(batch.groups)
        for group in accepted:
            record = self._record(group.source)
            record.survived += 1
            record.useful += group.has_signal
        for peer, (inspected, share) in (screened or {}).items():
            record = self._record(peer)
            record.inspected += inspected
            record.dropped += share

    def drop_rate(self, peer: str, min_groups: float = 1.0) -> float:
        """The peer's flagged share per inspected group (both counts decayed); 0 while its decayed inspected
        count is under `min_groups`. Refused groups are not inspected, so a refused peer's rate holds while its
        evidence decays below `min_groups`; then it is inspected again."""
        record = self.records.get(peer)
        if record is None or record.inspected < max(min_groups, FORGET_BELOW):
            return 0.0
        return min(1.0, record.dropped / record.inspected)

    def score(self, peer: str) -> float:
        """Posterior mean of the peer's useful-group rate; the prior mean for a peer never seen."""
        record = self.records.get(peer, PeerRecord())
        return (record.useful + self.prior_useful) / (record.received + self.prior_useful + self.prior_useless)

    def snapshot(self) -> PeerUsefulness:
        return PeerUsefulness(MappingProxyType({peer: self.score(peer) for peer in self.records}), self.prior)

    def state_dict(self) -> dict[str, tuple[float, float, float, float, float]]:
        """The counts, for a checkpoint: peer -> (received, survived, useful, inspected, dropped)."""
        return {peer: (r.received, r.survived, r.useful, r.inspected, r.dropped) for peer, r in self.records.items()}

    def load_state_dict(self, state: Mapping[str, Sequence[float]]) -> None:
        """Counts from `state_dict` (the settings stay those of this ledger's config; checkpoints written before
        the defences existed hold three counts)."""
        self.records = {peer: PeerRecord(*map(float, counts)) for peer, counts in state.items()}

    def _record(self, peer: str) -> PeerRecord:
        return self.records.setdefault(peer, PeerRecord())

