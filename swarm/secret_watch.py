"""One line when this node's swarm secret does not match the swarm's: not per-peer warnings, then silence.

Records of a private swarm carry an HMAC tag under its secret and an encrypted body; a node with another
secret (or none) refuses every one of them as ``wrong_secret``. Seen one peer at a time that looks like
a few bad peers; seen together (N refused records, and not one batch or announcement that passed) it is
this node's secret that is wrong. `secret_verdict` reads the transport's counters (exact, whatever the
rejection log prints) and says so; `watch_secret` asks once per window and logs the line once, at
error level, with the fix. `swarm status` prints the same line when it sees no peer.

    line = secret_verdict(transport)    # None, or "your secret does not match the records in this swarm ..."
    task = asyncio.create_task(watch_secret(transport, period_s=10))
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)

SECRET_REASON = "wrong_secret"
MIN_RECORDS = 3
"""Refused records needed before the verdict, with not one record passing in the meantime."""
MAX_CHECKS = 360
"""`watch_secret` gives up after this many windows (an hour at 10 s windows): by then it has spoken or never will."""


def secret_verdict(transport: Any, min_records: int = MIN_RECORDS) -> str | None:
    """The one line, or None while the evidence is not conclusive (or some batch or announcement passed)."""
    refused = transport.stats.rejections.get(SECRET_REASON, 0)
    if refused < min_records or transport.stats.accepted > 0 or transport.peers():
        return None
    seen = f"{refused} records failed the secret check and none passed"
    if transport.config.swarm_secret:
        return (f"your secret does not match the records in this swarm ({seen}): ask the swarm's operator for "
                "its secret (--secret), or drop --secret to join a public swarm")
    return (f"the records in this swarm are encrypted and tagged under a secret you do not have ({seen}): "
            "it is a private swarm; pass its secret with --secret")


async def watch_secret(transport: Any, period_s: float, max_checks: int = MAX_CHECKS) -> str | None:
    """Check every `period_s` until the verdict is in (logged once, returned), a record passes, or `max_checks`."""
    for _ in range(max_checks):
        await asyncio.sleep(period_s)  # counters only move with collects: there is no event to await
        if transport.stats.accepted > 0 or transport.peers():
            return None
        if (line := secret_verdict(transport)) is not None:
            logger.error("%s", line)
            return line
    return None
