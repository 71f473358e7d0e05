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
from typing import AsyncIterator, Awaitable, Callable

from swarm.procs import stop_when_supervisor_exits
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


def listen_notes(config: TransportConfig, maddrs: list[str], stable_id: bool) -> list[str]:
    """What a bootstrap operator should know about where it listens: loopback only, a random port, an id
    that changes on every restart; each with the option that fixes it."""
    from swarm.maddr import listen_host, tcp_port
    from swarm.ports import is_loopback

    notes = []
    listening = sorted({f"{listen_host(m)} port {tcp_port(m)}" for m in maddrs if tcp_port(m) is not None})
    notes.append(f"listening on {', '.join(listening) or ' '.join(maddrs)}")
    if is_loopback(list(config.host_maddrs)):
        notes.append("loopback only: peers on other machines cannot reach it; for a public bootstrap pass --port 31337 "
                     "(all interfaces) and --announce-maddr /ip4/<public ip>/tcp/31337")
    if any(tcp_port(m) == 0 for m in config.host_maddrs):
        notes.append("the port was chosen at random and changes on every restart (and the address with it): pin one with --port")
    if not stable_id:
        notes.append("no --identity: the peer id changes on every restart, and every address handed out dies with it; "
                     "keep one with --identity ~/.config/sapo-swarm/bootstrap.pem")
    return notes


async def run_until_signal(coro: Awaitable[None]) -> None:
    """Run `coro` until Ctrl-C or SIGTERM, then raise KeyboardInterrupt. In a terminal Ctrl-C reaches the p2p
    daemon too, so the library's teardown would talk to a dead daemon: its complaints are silenced, and the
    bounded stop (`transport.shutdown_timeout_s`) cleans up what is left."""
    import logging
    import signal

    task = asyncio.ensure_future(coro)

    def stop() -> None:
        for name in ("asyncio", "hivemind", "swarm.shutdown", "swarm.transports"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        task.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    orphan_watch = asyncio.create_task(stop_when_supervisor_exits(stop))  # under `swarm testnet`: stop with it
    try:
        await task
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        orphan_watch.cancel()
