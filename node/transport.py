"""What a `node.round.Node` needs from a transport, as a typed contract the node side owns.

The node publishes its batch, collects peers' verified batches, counts live peers, stamps its batches
with the transport's clock and window, and reports the transport's refusals in its metrics. Every
transport implements it: the hivemind DHT, the in-memory hub and the silo (``swarm.transports``); node/
never imports them, and never probes a transport with ``getattr``/``hasattr``.

    node = Node(config, identity, policy, tasks, reward_fn, algorithm, transport=build_transport(cfg, identity))
    assert isinstance(node.transport, NodeTransport)      # runtime-checkable: the members are present

Reference: prime-rl `transports/rollouts/base.py` (the interface on the consumer's side).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol, Sequence, runtime_checkable

from protocol.messages import PeerAnnouncement, RolloutBatch


class TransportCounters(Protocol):
    """The transport's own counters that end up in the node's metrics."""

    skipped_publishes: int
    """Own batches not published because the window already held the per-peer cap."""
    rejections: Counter[str]
    """Peers' records refused, by reason (every one counted)."""


@runtime_checkable
class NodeTransport(Protocol):
    """The transport as the round loop uses it; every method is safe to call when the swarm is unreachable."""

    stats: TransportCounters

    def clock(self) -> float:
        """Swarm time in seconds (the median of the peers' clocks where the backend keeps one)."""

    def window(self) -> int:
        """The current time window of swarm time: the window a batch published now belongs to."""

    async def publish(self, batch: RolloutBatch) -> Any:
        """Called once per round with this node's batch; returns the backend's receipt."""

    async def collect(self, max_batches: int) -> list[RolloutBatch]:
        """Called once per round inside the node's collect deadline: verified, never-seen batches from
        other peers (possibly none); ``max_batches=0`` only refreshes the peer directory. Cancellation-safe."""

    def peers(self) -> Sequence[PeerAnnouncement]:
        """Live peers seen recently (from their signed announcements), this node excluded."""

    @property
    def rejections(self) -> Counter[str]:
        """Peers' records refused so far, by reason (the same counter as ``stats.rejections``)."""
