"""The transport interface the node uses: publish, collect, peers, clock and window, start/stop, counters.

A transport moves signed `RolloutBatch`es between nodes and hands the node only verified ones. The node's
side of the contract is `node.transport.NodeTransport` (a typed Protocol node/ owns); every backend here
implements it (`tests/unit/test_transport_contract.py`).
One file per backend: `memory.py` (unit tests and in-process simulations), `hivemind/transport.py`
(the real swarm). Chosen through `swarm.transports.build_transport`.

Reference: prime-rl `transports/rollouts/base.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

from protocol.clock import now
from protocol.messages import PeerAnnouncement, RolloutBatch


@dataclass
class PublishReceipt:
    """What a publish achieved: where it went and how many bytes it cost."""

    key: str
    stored: bool
    bytes_sent: int
    parts: int = 1


@dataclass
class TransportStats:
    published: int = 0
    accepted: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    skipped_publishes: int = 0
    """Own batches not published because the window already held the per-peer cap."""
    rejections: Counter[str] = field(default_factory=Counter)


class Transport(ABC):
    """Async at the edge; every method is safe to call when the swarm is unreachable."""

    stats: TransportStats

    @abstractmethod
    async def start(self) -> None:
        """Called once before the first round; joins the swarm or raises a clear startup error."""

    @abstractmethod
    async def publish(self, batch: RolloutBatch) -> PublishReceipt:
        """Called once per round with this node's batch (already signed inside)."""

    @abstractmethod
    async def collect(self, max_batches: int) -> list[RolloutBatch]:
        """Called once per round inside the node's collect deadline; returns only verified,
        never-seen-before batches from other peers (possibly none). Cancellation-safe."""

    @abstractmethod
    def peers(self) -> list[PeerAnnouncement]:
        """Live peers seen recently (from announcements)."""

    def clock(self) -> float:
        """Swarm time in seconds; this machine's clock unless the backend follows its peers' (a callable attribute)."""
        return now()

    @abstractmethod
    def window(self) -> int:
        """The current time window of swarm time: the window a batch published now belongs to."""

    @abstractmethod
    async def stop(self) -> None:
        """Called once at shutdown; idempotent."""

    @property
    def rejections(self) -> Counter[str]:
        return self.stats.rejections
