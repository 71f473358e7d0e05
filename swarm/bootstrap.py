"""A bootstrap peer: a lightweight process with no model that only runs the DHT.

New peers join the swarm through its multiaddrs. `serve` writes them to ``<out>/bootstrap.json``
(how `swarm testnet` learns them) and runs until cancelled:

    asyncio.run(serve(TransportConfig(), Path("runs/x/bootstrap"), on_ready=print))

It opens its `DHTNode` through the hivemind backend (`swarm.transports.hivemind.bootstrap_node`: in
this process's event loop, patient start-up, NAT port mapping, AutoNAT and relays off) with the
nodes' record validator and storage budget, so as a replica it stores only what nodes would store.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable

from swarm.transports.config import TransportConfig

BOOTSTRAP_FILE = "bootstrap.json"


@asynccontextmanager
async def open_bootstrap(config: TransportConfig) -> AsyncIterator[list[str]]:
    """A started DHT node with the nodes' own record validator; yields its multiaddrs."""
    from swarm.transports.hivemind.bootstrap_node import open_bootstrap_node

    async with open_bootstrap_node(config) as node:
        yield [str(m) for m in await node.get_visible_maddrs()]


def write_addresses(out_dir: Path, maddrs: list[str]) -> Path:
    """Atomically write ``bootstrap.json`` (pid and multiaddrs) so a reader never sees half a file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / BOOTSTRAP_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "maddrs": maddrs}))
    os.replace(tmp, path)
    return path


def read_addresses(out_dir: Path) -> list[str] | None:
    """The multiaddrs a bootstrap peer wrote, or None before it is ready."""
    try:
        return json.loads((out_dir / BOOTSTRAP_FILE).read_text())["maddrs"]
    except FileNotFoundError:
        return None


async def serve(config: TransportConfig, out_dir: Path | None, on_ready: Callable[[list[str]], None]) -> None:
    """Run the bootstrap peer until cancelled (Ctrl-C or SIGTERM)."""
    async with open_bootstrap(config) as maddrs:
        if out_dir is not None:
            write_addresses(out_dir, maddrs)
        on_ready(maddrs)
        await asyncio.Event().wait()
