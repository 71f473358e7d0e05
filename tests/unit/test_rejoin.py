"""A node that could not reach the swarm at start-up keeps training in silo and joins later."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from swarm.runner import _rejoin
from swarm.transports.hivemind.startup import TransportStartupError


class FlakyStart:
    """Start-up fails `failures` times (no initial peer answered), then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures, self.attempts = failures, 0

    async def start(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise TransportStartupError("no_initial_peer", "none of the initial peers answered: /ip4/127.0.0.1/tcp/9")


def test_rejoin_swaps_in_the_transport_once_it_starts() -> None:
    node = SimpleNamespace(transport="silo", round=7)
    flaky = FlakyStart(failures=2)
    asyncio.run(asyncio.wait_for(_rejoin(node, flaky, first_delay_s=0.01, max_delay_s=0.02), timeout=5))
    assert flaky.attempts == 3 and node.transport is flaky
