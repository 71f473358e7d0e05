"""Asking bootstrap peers and DHT neighbours through a throwaway p2p daemon: step 3 of `swarm.diagnose`
(a libp2p dial with the expected peer id) and `hello` questions to the peers met.

    async with BootstrapProbe(timeout_s=5) as probe:
        checks = await probe.check(["/ip4/203.0.113.7/tcp/31337/p2p/12D3KooW..."])
        reply = await probe.hello(checks[0], swarm_id="public-demo", ports=[31337])
        replies = await probe.ask_neighbours([c for c in checks if c.ok], swarm_id="public-demo")

The daemon dials out only (no listen address, no NAT mapping, no relays, DHT client) and is started on
first need, a TCP connect that was accepted (`swarm.diagnose.tcp_checks`), and stopped on exit.
`ask_transport_neighbours` asks the DHT neighbours of a running `HivemindTransport` (`swarm status`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Sequence

from hivemind.dht.node import DHTNode
from hivemind.p2p import P2P, PeerID
from hivemind.utils.multiaddr import Multiaddr

from swarm.diagnose import BootstrapCheck, classify_dial_error, tcp_checks
from swarm.maddr import PeerAddress, parse_peer_maddr
from swarm.transports.hivemind.hello import HelloReply, call_hello

logger = logging.getLogger(__name__)

MAX_ASKED = 8
"""DHT neighbours asked at most, besides the bootstrap peers."""


async def libp2p_verdict(p2p: P2P, address: PeerAddress, timeout_s: float) -> tuple[str, str, str]:
    """(verdict, detail, actual peer id) of a libp2p dial to the address with its expected peer id."""
    transport_part = address.text.split("/p2p/")[0].split("/ipfs/")[0]
    try:
        async with asyncio.timeout(timeout_s):
            await p2p._client.connect(PeerID.from_base58(address.peer_id), [Multiaddr(transport_part)])
        return "ok", "", ""
    except TimeoutError:
        return "timeout", f"{timeout_s:.0f} s (TCP accepted, libp2p handshake did not finish)", ""
    except Exception as exc:  # p2pd reports every dial failure as one ControlFailure text
        return classify_dial_error(str(exc))


async def start_probe_p2p() -> P2P:
    """A throwaway p2p daemon that dials out only: no listen address, no NAT mapping, no relays."""
    return await P2P.create(host_maddrs=[], no_listen=True, auto_nat=False, nat_port_map=False, use_relay=False,
                            use_auto_relay=False, dht_mode="client", startup_timeout=30)


async def ask_peers(p2p: P2P, peers: Sequence[PeerID], swarm_id: str, timeout_s: float = 5.0) -> list[HelloReply]:
    """The hello reply of each peer that answers (an old peer without the handler, or one gone, does not)."""

    async def ask(peer: PeerID) -> HelloReply | None:
        try:
            return await call_hello(p2p, peer, swarm_id=swarm_id, timeout_s=timeout_s)
        except Exception:  # P2PDaemonError, ControlFailure, timeouts, malformed replies: all "no answer"
            return None

    return [r for r in await asyncio.gather(*(ask(p) for p in peers)) if r is not None]


async def ask_transport_neighbours(transport: Any, swarm_id: str, limit: int = MAX_ASKED) -> tuple[int, list[HelloReply]]:
    """(DHT neighbours of a started `HivemindTransport`, hello replies of up to `limit` of them)."""
    neighbours = list(transport.node.protocol.routing_table.peer_id_to_uid)
    return len(neighbours), await ask_peers(transport.node.p2p, neighbours[:limit], swarm_id)


class BootstrapProbe:
    """Checks bootstrap addresses and asks their peers questions through one throwaway p2p daemon,
    started on first need (a TCP connect that was accepted) and stopped on exit."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.p2p: P2P | None = None

    async def __aenter__(self) -> "BootstrapProbe":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.p2p is not None:
            p2p, self.p2p = self.p2p, None
            await p2p.shutdown()

    async def check(self, maddrs: Sequence[str]) -> list[BootstrapCheck]:
        """Every address checked in parallel (`swarm.diagnose` steps 1-3), in the order given."""
        tcp = await tcp_checks(maddrs, self.timeout_s)
        if not any(c.ok for c in tcp):
            return tcp
        if self.p2p is None:
            self.p2p = await start_probe_p2p()
        dials = await asyncio.gather(*(
            libp2p_verdict(self.p2p, parse_peer_maddr(c.maddr), self.timeout_s) if c.ok else _none() for c in tcp))
        return [BootstrapCheck(c.maddr, *d) if d is not None else c for c, d in zip(tcp, dials)]

    async def hello(self, check: BootstrapCheck, *, swarm_id: str, ports: Sequence[int] = ()) -> HelloReply | None:
        """The hello reply of the peer behind an ``ok`` address, or None if it does not answer
        (a peer without the handler, e.g. a plain ``hivemind-dht``)."""
        if not check.ok or self.p2p is None:
            return None
        try:
            return await call_hello(self.p2p, PeerID.from_base58(parse_peer_maddr(check.maddr).peer_id),
                                    swarm_id=swarm_id, ports=list(ports), timeout_s=self.timeout_s + 4.0)
        except Exception as exc:  # an old peer, a reset, a timeout: all mean "no answer"
            logger.debug("no hello from %s: %r", check.maddr, exc)
            return None

    async def ask_neighbours(self, good: Sequence[BootstrapCheck], swarm_id: str) -> list[HelloReply]:
        """Hello replies of the bootstrap peers behind `good` and of up to `MAX_ASKED` DHT neighbours met
        through them (a DHT client on the probe's daemon, stopped before returning)."""
        replies = [r for c in good if (r := await self.hello(c, swarm_id=swarm_id)) is not None]
        if self.p2p is None or not good:
            return replies
        node = await DHTNode.create(p2p=self.p2p, initial_peers=[c.maddr for c in good], client_mode=True,
                                    ensure_bootstrap_success=False, wait_timeout=self.timeout_s)
        try:
            asked = {parse_peer_maddr(c.maddr).peer_id for c in good}
            neighbours = [p for p in node.protocol.routing_table.peer_id_to_uid if p.to_base58() not in asked]
            replies += await ask_peers(self.p2p, neighbours[:MAX_ASKED], swarm_id, self.timeout_s)
        finally:
            await node.shutdown()
        return replies


async def check_bootstraps(maddrs: Sequence[str], timeout_s: float = 5.0) -> list[BootstrapCheck]:
    """`BootstrapProbe.check` with a probe of its own."""
    async with BootstrapProbe(timeout_s) as probe:
        return await probe.check(maddrs)


async def _none() -> None:
    return None
