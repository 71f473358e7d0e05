"""The silo transport: publishes nowhere, collects nothing (``type: none``).

Also what a node falls back to, explicitly, when the swarm is unreachable at start-up: catch
`TransportStartupError`, log it, and build ``TransportConfig(type="none")``; every collect then
returns ``[]`` and the node's metrics show zero external rollouts.
"""

from __future__ import annotations

import logging

from protocol.keys import record_key, window_of
from protocol.messages import PeerAnnouncement, RolloutBatch
from swarm.transports.base import PublishReceipt, Transport, TransportStats
from swarm.transports.config import TransportConfig

logger = logging.getLogger(__name__)


class NullTransport(Transport):
    """Trains alone: nothing leaves the node and nothing arrives."""

    def __init__(self, config: TransportConfig) -> None:
        self.config = config
        self.stats = TransportStats()

    async def start(self) -> None:
        logger.warning("transport 'none': this node trains in silo (publishes nothing, collects nothing)")

    async def publish(self, batch: RolloutBatch) -> PublishReceipt:
        return PublishReceipt(record_key(self.config.swarm_id, batch.window, 0), stored=False, bytes_sent=0, parts=0)

    async def collect(self, max_batches: int) -> list[RolloutBatch]:
        return []

    def peers(self) -> list[PeerAnnouncement]:
        return []

    def window(self) -> int:
        return window_of(self.clock(), self.config.window_seconds)

    async def stop(self) -> None:
        return None
