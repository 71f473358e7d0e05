"""Censoring sybils (T7): several DHT nodes in one process that accept every store and keep nothing.

    python tests/chaos/sybil_proc.py '{"initial_peers": [...], "host": "127.0.0.1"}' COUNT

Each sybil answers store requests with "stored" but drops the value, and so holds the replicas it is
given hostage: a record whose nearest replicas are all sybils cannot be read. Prints one JSON line
``{"event": "ready", "sybils": COUNT}`` and runs until stdin closes or reads "quit".
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from hivemind.dht.node import DHTNode  # noqa: E402

from swarm.transports.config import TransportConfig  # noqa: E402
from swarm.transports.startup import p2p_options  # noqa: E402


def _drop(*args: object, **kwargs: object) -> bool:
    return True  # "stored", and nothing kept


async def main() -> None:
    cfg, count = json.loads(sys.argv[1]), int(sys.argv[2])
    options = p2p_options(TransportConfig(host_maddrs=[f"/ip4/{cfg['host']}/tcp/0"]))
    nodes = []
    for _ in range(count):
        node = await DHTNode.create(initial_peers=cfg["initial_peers"], num_replicas=5, cache_nearest=0, **options)
        node.protocol.storage.store = _drop
        node.protocol.storage.store_subkey = _drop
        nodes.append(node)
    print(json.dumps({"event": "ready", "sybils": count, "pid": os.getpid()}), flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if b"quit" in line:
            break
    await asyncio.gather(*(n.shutdown() for n in nodes), return_exceptions=True)


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    asyncio.run(main())
