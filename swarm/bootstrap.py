"""A bootstrap peer: a lightweight process with no model that only runs the DHT.

New peers join the swarm through its multiaddrs. `serve` writes them to ``<out>/bootstrap.json``
(how `swarm testnet` learns them) and runs until cancelled:

    asyncio.run(serve(TransportConfig(), Path("runs/x/bootstrap"), on_ready=print))

It uses the transport's own bootstrap (``swarm.transports.hivemind_dht.run_bootstrap``) when that
exists, so the bootstrap peer speaks exactly the nodes' DHT protocol; otherwise a bare hivemind
``DHTNode`` in this process's event loop, with NAT port mapping, AutoNAT and relays off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable

from swarm.transports.config import TransportConfig

logger = logging.getLogger(__name__)

BOOTSTRAP_FILE = "bootstrap.json"


@asynccontextmanager
async def _bare_dht(config: TransportConfig) -> AsyncIterator[list[str]]:
    from hivemind.dht.node import DHTNode

    node = await DHTNode.create(
        initial_peers=config.initial_peers or None,
        host_maddrs=config.host_maddrs,
        announce_maddrs=config.announce_maddrs or None,
        use_relay=config.use_relay,
        use_auto_relay=config.use_auto_relay,
        auto_nat=False,
        nat_port_map=False,
        startup_timeout=config.startup_timeout_s,
        ensure_bootstrap_success=bool(config.initial_peers),
    )
    try:
        yield [str(m) for m in await node.p2p.get_visible_maddrs()]
    finally:
        await node.shutdown()


def _open_bootstrap(config: TransportConfig) -> AbstractAsyncContextManager[list[str]]:
    try:
        from swarm.transports.hivemind_dht import run_bootstrap  # type: ignore[attr-defined]
    except ImportError:
        logger.debug("transport has no run_bootstrap; using a bare hivemind DHTNode")
        return _bare_dht(config)
    return run_bootstrap(config)


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
    async with _open_bootstrap(config) as maddrs:
        if out_dir is not None:
            write_addresses(out_dir, maddrs)
        on_ready(maddrs)
        await asyncio.Event().wait()
