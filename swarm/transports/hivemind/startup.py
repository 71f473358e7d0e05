"""Starting a `DHTNode` inside the node's own asyncio loop, patiently, failing with a clear reason.

`start_dht_node` retries with exponential backoff until ``config.startup_timeout_s`` and then raises
`TransportStartupError` saying why: the p2p daemon did not start, none of the initial peers
answered (listing them), or the listening port is in use (not retried). NAT port mapping, AutoNAT
and relays stay off unless the config turns relays on. `stop_dht_node` is its bounded counterpart.

Run in the node's loop rather than through the `hivemind.DHT` process wrapper: less CPU and
memory, and no 64 KiB pipe limit between processes (see ../shared/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hivemind.dht.node import DHTNode
from hivemind.dht.validation import RecordValidatorBase
from hivemind.p2p.p2p_daemon_bindings.utils import P2PDaemonError

from swarm.transports.hivemind.hello import serve_hello
from swarm.transports.hivemind.libp2p_key import libp2p_key_option
from swarm.shutdown import stop_within
from swarm.transports.config import TransportConfig

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 10.0


class TransportStartupError(RuntimeError):
    """Raised by `HivemindTransport.create`/`start` when the node cannot join or start a swarm in time.

    ``reason`` is one of "daemon" (p2pd did not start), "no_initial_peer" (none of ``peers``
    answered), "port_in_use" (a listen address is taken). Not raised once started: an unreachable
    swarm later on only makes collects come back empty.
    """

    def __init__(self, reason: str, message: str, peers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason, self.peers = reason, peers


def p2p_options(config: TransportConfig) -> dict[str, object]:
    """hivemind P2P.create options: listen where told, no NAT port mapping, no AutoNAT, relays as configured."""
    return dict(
        host_maddrs=list(config.host_maddrs),
        announce_maddrs=list(config.announce_maddrs) or None,
        use_relay=config.use_relay,
        use_auto_relay=config.use_auto_relay,
        auto_nat=False,
        nat_port_map=False,
        startup_timeout=min(30.0, config.startup_timeout_s),
    )


def classify(exc: BaseException, config: TransportConfig) -> TransportStartupError:
    """Turn hivemind's startup failure into our named error with the reason a user can act on."""
    text = str(exc)
    peers = tuple(config.initial_peers)
    if "address already in use" in text.lower():
        return TransportStartupError("port_in_use", f"cannot listen on {config.host_maddrs}: port in use ({text})")
    if peers and ("bootstrap" in text or "initial_peers" in text or "none of the initial" in text):
        return TransportStartupError(
            "no_initial_peer", f"none of the initial peers answered: {', '.join(peers)} ({text})", peers
        )
    return TransportStartupError("daemon", f"the p2p daemon did not start: {type(exc).__name__}: {text}", peers)


async def start_dht_node(config: TransportConfig, validator: RecordValidatorBase) -> DHTNode:
    """Create a `DHTNode` in this loop, retrying until ``config.startup_timeout_s``; see `TransportStartupError`.
    ``config.reachability == "private"`` makes it a DHT client (it asks, never answers or stores);
    ``config.stable_peer_id`` keeps its libp2p id (`libp2p_key`). It answers `hello` questions."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.startup_timeout_s
    delay, attempt = 1.0, 0
    while True:
        attempt += 1
        try:
            node = await DHTNode.create(
                initial_peers=list(config.initial_peers) or None,
                num_replicas=config.num_replicas,
                record_validator=validator,
                cache_nearest=0,
                wait_timeout=min(3.0, config.request_timeout_s / 2),  # one slow peer costs half a get or store, not all of it
                client_mode=config.reachability == "private",
                **p2p_options(config),
                **libp2p_key_option(config),
            )
        except (P2PDaemonError, RuntimeError, OSError, ValueError) as exc:
            error = classify(exc, config)
        else:
            await serve_hello(node.p2p, config.swarm_id, config.window_seconds)
            return node
        remaining = deadline - loop.time()
        if error.reason == "port_in_use" or remaining <= delay:
            raise error
        logger.warning("start-up attempt %d failed (%s); retrying in %.0f s, %.0f s left", attempt, error, delay, remaining)
        await asyncio.sleep(delay)
        delay = min(2 * delay, _MAX_BACKOFF_S)


async def stop_dht_node(node: DHTNode, timeout_s: float) -> None:
    """`DHTNode.shutdown` within `timeout_s`, else kill its p2pd. hivemind's shutdown first removes the DHT
    handlers one request at a time over the p2pd control socket, then waits for p2pd to exit, with no deadline.
    A p2pd that already exited (Ctrl-C in a terminal reaches the whole process group) is only cleaned up."""
    child = getattr(node.p2p, "_child", None)
    if child is not None and child.returncode is not None:
        node.is_alive = False
        node.p2p._terminate()
        return
    if not await stop_within(node.shutdown(), timeout_s, "the DHT node's shutdown"):
        kill_daemon(node.p2p)


def kill_daemon(p2p: Any) -> None:
    """End a p2pd that did not leave in time: hivemind's synchronous teardown (closes the control client, cancels
    its tasks, SIGTERM), then SIGKILL, since a daemon stuck closing its connections ignores a second SIGTERM."""
    p2p._terminate()
    child = getattr(p2p, "_child", None)
    if child is not None and child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
    logger.warning("p2pd (pid %s) killed", getattr(child, "pid", None))
