"""What a node checks before it joins a swarm: its port, its bootstrap peers, and whether peers can dial it.

    plan = await preflight(config.transport)        # JoinError: joining cannot work as configured
    transport = build_transport(plan.config, identity)
    print(plan.reachability, plan.notes)

1. **Port.** A pinned listen port that is taken refuses the start (`swarm.ports`); port 0 becomes a free
   port chosen now, so the node knows which port to have probed and says which it got.
2. **Bootstrap peers** (`swarm.diagnose`). Every address wrong for good (typo, no ``/p2p/<id>``, refused,
   a peer with another id) raises `JoinError` with one line per address and its fix: waiting would not
   help, and a node must not train alone for 100,000 rounds believing it is in a swarm. If some only time
   out (transient), ``plan.joinable`` is False and the node trains alone while it retries, and says so.
3. **Reachability** (``transport.reachability: auto``, listening beyond loopback). A bootstrap peer tries a
   TCP connect back to this machine's port at the address it sees us at (`transports.hivemind.hello`), while a
   throwaway listener holds the port. Accepted: the node serves the DHT. Not accepted: it runs as a DHT
   client (it still publishes, reads and trains through its outbound connections, and others never
   route DHT requests to an address they cannot reach), and the note says how to become dialable.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from swarm.diagnose import BootstrapCheck
from swarm.ports import PortInUseError, claim_listen_ports, is_loopback, listen_ports
from swarm.transports.config import TransportConfig

if TYPE_CHECKING:
    from swarm.transports.hivemind.probe import BootstrapProbe

logger = logging.getLogger(__name__)


class JoinError(Exception):
    """Raised by `preflight` when joining cannot work as configured and waiting will not fix it (every
    bootstrap address wrong, the listen port taken). Not raised for failures that may be transient."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Plan:
    """How to start the transport, decided by `preflight`."""

    config: TransportConfig
    """The transport config to start with: ports chosen, ``reachability`` decided."""
    joinable: bool = True
    """False while no bootstrap peer answers (transient): train alone and retry."""
    reachability: str = "unchecked"
    """dialable, not dialable, loopback, unchecked (no peer answered the question) or as configured."""
    checks: list[BootstrapCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """One-line messages for the user, each with its fix."""


async def preflight(config: TransportConfig, timeout_s: float = 5.0) -> Plan:
    """Check ports, bootstrap peers and reachability; see the module docstring."""
    try:
        host_maddrs, notes = claim_listen_ports(list(config.host_maddrs))
    except PortInUseError as exc:
        raise JoinError("port_in_use", str(exc)) from None
    plan = Plan(config.model_copy(update={"host_maddrs": host_maddrs}), notes=notes)
    if not config.initial_peers:
        plan.reachability = "new swarm"
        return plan
    from swarm.transports.hivemind.probe import BootstrapProbe

    async with BootstrapProbe(timeout_s) as probe:
        plan.checks = await probe.check(list(config.initial_peers))
        if not any(c.ok for c in plan.checks):
            return _unreachable(plan)
        await _decide_reachability(plan, probe)
    return plan


def _unreachable(plan: Plan) -> Plan:
    lines = [c.explain() for c in plan.checks]
    if all(c.definitive for c in plan.checks):
        raise JoinError("bootstrap", "no bootstrap address works, and waiting will not fix it:\n  " + "\n  ".join(lines))
    plan.joinable = False
    plan.notes += lines
    return plan


async def _decide_reachability(plan: Plan, probe: BootstrapProbe) -> None:
    cfg = plan.config
    if cfg.reachability != "auto":
        plan.reachability = f"{cfg.reachability} (as configured)"
        return
    if is_loopback(list(cfg.host_maddrs)):
        plan.reachability = "loopback"
        return
    ports = listen_ports(list(cfg.announce_maddrs)) or listen_ports(list(cfg.host_maddrs))
    verdict = await dial_back(probe, plan.checks, cfg, ports)
    if verdict is None:
        plan.reachability = "unchecked"
        plan.notes.append("could not check whether peers can dial this node (no bootstrap peer answers "
                          "sapo-swarm/hello); serving the DHT as if they can")
        return
    dialable, observed = verdict
    plan.reachability = "dialable" if dialable else "not dialable"
    plan.notes.append(reachability_line(dialable, observed, ports))
    if not dialable:
        plan.config = cfg.model_copy(update={"reachability": "private"})


async def dial_back(probe: BootstrapProbe, checks: list[BootstrapCheck], config: TransportConfig,
                    ports: list[int]) -> tuple[bool, str] | None:
    """(accepted on any port, the address the peer sees us at) from the first answering bootstrap peers,
    while a throwaway listener holds our listen ports; None if no peer answered the question."""
    servers = await _hold_ports(list(config.host_maddrs))
    try:
        for check in [c for c in checks if c.ok][:2]:
            reply = await probe.hello(check, swarm_id=config.swarm_id, ports=ports)
            if reply is not None and reply.dialback:
                return any(reply.dialback.values()), reply.observed
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
    return None


async def _hold_ports(maddrs: list[str]) -> list[asyncio.AbstractServer]:
    """A listener on each TCP listen address that accepts and closes (what a dial-back connects to)."""
    from swarm.maddr import listen_host, tcp_port

    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    servers = []
    for maddr in maddrs:
        host, port = listen_host(maddr), tcp_port(maddr)
        if host is not None and port:
            servers.append(await asyncio.start_server(close, host, port, reuse_address=True))
    return servers


def reachability_line(dialable: bool, observed: str, ports: list[int]) -> str:
    """The one line a node prints about its reachability, with the fix when it is not dialable."""
    ip = observed.rsplit(":", 1)[0] if observed else "your public IP"
    where = ", ".join(f"{ip}:{p}" for p in ports)
    if dialable:
        return f"dialable: a peer connected back to {where}; serving the DHT for others"
    port = ports[0] if ports else 31337
    return (f"not dialable: a peer could not connect back to {where} (NAT or firewall); taking part through "
            f"outbound connections only (DHT client mode: training and sharing work). To serve others, forward "
            f"TCP port {port} on your router to this machine and start with --announce-maddr /ip4/{ip}/tcp/{port}")
