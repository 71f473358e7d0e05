"""One node of the scale benchmark running the reference pattern, as a process: a plain hivemind `DHTNode`.

The reference (Gensyn genrl 0.3.0 `HivemindBackend`, as published): every node stores its batch under one
key per round (subkey = its peer id, expiration 600 s, hivemind's default beam), then one
``get(key, latest=True)``. It runs on DHT nodes *without our store-side validator* (no signature, slot,
size or expiration rules: they would refuse its 600 s expirations), with hivemind's defaults otherwise;
only the p2p options (loopback, no NAT mapping, no relays) are ours. Same JSON-lines protocol as
`tests/swarm/node_proc.py`: prints ``{"event": "ready", ...}``, then answers ``publish_round``,
``collect_round``, ``snapshot`` and ``quit``.

    python benchmarks/scale/ref_node.py '{"swarm_id": "ref8", "initial_peers": [...]}' SEED
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.scale.metering import Meter, category, install  # noqa: E402
from protocol import Identity, seal  # noqa: E402
from swarm.transports.config import TransportConfig  # noqa: E402
from swarm.transports.hivemind.startup import p2p_options, stop_dht_node  # noqa: E402
from tests.swarm import node_proc  # noqa: E402

REFERENCE_TTL_S = 600.0


class ReferenceNode:
    def __init__(self, node: Any, config: TransportConfig, identity: Identity, meter: Meter) -> None:
        self.node, self.config, self.identity, self.meter = node, config, identity, meter

    def _key(self, batch_id: str) -> str:
        return f"ref/{self.config.swarm_id}/{batch_id}"

    def _cpu(self) -> float:
        totals = self.meter.snapshot()
        return totals["cpu_python_s"] + totals["cpu_p2pd_s"]

    async def publish_round(self, batch_id: str, size: int) -> dict[str, Any]:
        from hivemind.utils import get_dht_time

        batch = node_proc.make_batch(self.identity, self.config.swarm_id, 0, batch_id, size)
        value = seal(batch, self.identity)
        cpu0, t0 = self._cpu(), time.time()
        with category("reference"):
            stored = await self.node.store(self._key(batch_id), value, get_dht_time() + REFERENCE_TTL_S, subkey=self.identity.peer_id)
        self.meter.values["reference"]["stores"] += 1
        self.meter.values["reference"]["written"] += len(value)
        return {"stored": bool(stored), "bytes": len(value), "s": time.time() - t0, "cpu_s": self._cpu() - cpu0}

    async def collect_round(self, want: int, batch_id: str = "") -> dict[str, Any]:
        """One ``get(key, latest=True)`` of this round's key (the reference's sleep is the driver's schedule)."""
        cpu0, t0 = self._cpu(), time.time()
        with category("reference"):
            found = await self.node.get(self._key(batch_id), latest=True)
        items = found.value.items() if found is not None and isinstance(found.value, dict) else []
        read = sum(len(item.value) for _, item in items)
        self.meter.values["reference"]["gets"] += 1
        self.meter.values["reference"]["read"] += read
        got = sum(subkey != self.identity.peer_id for subkey, _ in items)
        return {"got": got, "none": found is None, "s": time.time() - t0, "cpu_s": self._cpu() - cpu0}

    async def snapshot(self) -> dict[str, Any]:
        return {**self.meter.snapshot(), "routing_table": len(self.node.protocol.routing_table.uid_to_peer_id)}


async def main() -> None:
    from hivemind.dht.node import DHTNode

    config = TransportConfig(**json.loads(sys.argv[1]))
    identity = Identity.from_seed(sys.argv[2].encode())
    meter = Meter()
    install(meter)
    node = await DHTNode.create(initial_peers=list(config.initial_peers) or None, **p2p_options(config))
    meter.daemon_pid = getattr(getattr(node.p2p, "_child", None), "pid", None)
    maddrs = [str(m) for m in await node.get_visible_maddrs()]
    print(json.dumps({"event": "ready", "maddrs": maddrs, "peer_id": identity.peer_id, "pid": os.getpid()}), flush=True)
    bench, loop = ReferenceNode(node, config, identity, meter), asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            name = cmd.pop("cmd")
            if name == "quit":
                break
            print(json.dumps(await getattr(bench, name)(**cmd)), flush=True)
    finally:
        await stop_dht_node(node, 10.0)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    asyncio.run(main())
