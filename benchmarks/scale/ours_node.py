"""One node of the scale benchmark running our transport (`HivemindTransport`, push on), as a process.

Started by `benchmarks.scale.driver` through `tests.swarm.helpers.launch_swarm` (same JSON-lines protocol as
`tests/swarm/node_proc.py`); on top of its commands it answers ``publish_round``, ``collect_round`` and
``snapshot``. Every RPC is counted by `benchmarks.scale.metering`, each under the operation that caused it.

    python benchmarks/scale/ours_node.py '{"swarm_id": "scale8", ...}' SEED
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.scale.metering import Meter, MeteredStore, category, install  # noqa: E402
from tests.swarm import node_proc  # noqa: E402

METER = Meter()
"""This process's counters (one node per process)."""


def _cpu(meter: Meter) -> float:
    totals = meter.snapshot()
    return totals["cpu_python_s"] + totals["cpu_p2pd_s"]


class ScaleNode(node_proc.Node):
    def __init__(self, transport: Any) -> None:
        super().__init__(transport)
        self.meter = METER
        self.meter.daemon_pid = getattr(getattr(transport.node.p2p, "_child", None), "pid", None)
        transport.store = MeteredStore(transport.store, self.meter)
        if transport.pusher is not None:
            send = transport.pusher._send
            transport.pusher._send = lambda *args: self._in_category("pushes", send, *args)
        if transport.direct_parts is not None:
            fetch = transport.direct_parts.fetch

            async def fetch_parts(source: str, digests: Any) -> dict[str, bytes]:
                with category("parts"):
                    return await fetch(source, digests)

            transport.direct_parts.fetch = fetch_parts

    @staticmethod
    def _in_category(name: str, fn: Any, *args: Any) -> Any:
        with category(name):  # tasks started inside inherit it
            return fn(*args)

    async def publish_round(self, batch_id: str, size: int) -> dict[str, Any]:
        batch = node_proc.make_batch(self.t.identity, self.t.config.swarm_id, self.t.window(), batch_id, size)
        cpu0, t0 = _cpu(self.meter), time.time()
        receipt = await self.t.publish(batch)
        return {"stored": receipt.stored, "parts": receipt.parts, "bytes": receipt.bytes_sent,
                "s": time.time() - t0, "cpu_s": _cpu(self.meter) - cpu0}

    async def collect_round(self, want: int, deadline_s: float = 3.0) -> dict[str, Any]:
        """Collect until ``want`` fresh batches (pushed ones count) or the deadline, as a node's round does."""
        cpu0, t0, got = _cpu(self.meter), time.time(), 0
        while True:
            got += len(await self.t.collect(max(want - got, 0)))
            if got >= want or time.time() > t0 + deadline_s:
                break
            await asyncio.sleep(0.05)
        return {"got": got, "s": time.time() - t0, "cpu_s": _cpu(self.meter) - cpu0}

    async def snapshot(self) -> dict[str, Any]:
        t, pusher = self.t, self.t.pusher
        table = t.node.protocol.routing_table if t.node is not None else None
        return {**self.meter.snapshot(), "window": t.window(), "peers": len(t.peers()),
                "peer_table": len(t.receiver.announcements), "routing_table": len(table.uid_to_peer_id) if table else 0,
                "pushed": pusher.pushed if pusher else 0, "push_failures": pusher.push_failures if pusher else 0,
                "push_retries": pusher.ledger.retried if pusher else 0, "probes": t.reach.probes,
                "reconnect_pings": t.reconnect.pinged if t.reconnect else 0, "accepted": t.stats.accepted,
                "rejections": dict(t.stats.rejections)}


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    install(METER)
    asyncio.run(node_proc.main(ScaleNode))
