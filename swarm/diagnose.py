"""Why a bootstrap address does not work, told apart: typo, refused, timeout, or a peer with another id.

    checks = asyncio.run(check_bootstraps(["/ip4/203.0.113.7/tcp/31337/p2p/12D3KooW..."], timeout_s=5))
    for c in checks: print(c.verdict, c.explain())
    dead_bootstraps(maddrs)   # steps 1-2 only, no hivemind: the message if every address is wrong for good

Each address goes through three steps and stops at the first that fails:

1. parse (`swarm.maddr`, no network): ``malformed``, e.g. no ``/p2p/<id>`` or a character missing from it;
2. a plain TCP connect to host:port: ``unresolvable`` (the DNS name does not resolve), ``refused``
   (nothing listens: the peer is down or the port is wrong), ``unreachable`` (no route) or ``timeout``
   (a firewall drops it, or the host is down);
3. a libp2p dial to the peer id through a throwaway p2p daemon (`BootstrapProbe`, started on first need):
   ``other_peer`` (a peer answered with another id: the bootstrap restarted with a new identity),
   ``not_libp2p`` (something else listens there), or ``ok``.

`definitive` verdicts do not heal by waiting (malformed, unresolvable, refused, other_peer, not_libp2p);
``timeout`` and ``unreachable`` may be transient. `swarm.preflight` fails a join whose every bootstrap is
definitively wrong and keeps the silo-and-retry behaviour only while some failure may be transient.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import socket
from dataclasses import dataclass
from typing import Any, Sequence

from swarm.maddr import AddressError, PeerAddress, parse_peer_maddr

logger = logging.getLogger(__name__)

DEFINITIVE = frozenset({"malformed", "unresolvable", "refused", "other_peer", "not_libp2p"})
TRANSIENT = frozenset({"timeout", "unreachable"})
_MISMATCH = re.compile(r"(?:remote key matches|actual(?: peer)?:?|got) ([1-9A-HJ-NP-Za-km-z]{40,60})")


@dataclass(frozen=True)
class BootstrapCheck:
    """The verdict on one bootstrap address; `explain` is the one line a user reads."""

    maddr: str
    verdict: str
    """ok, malformed, unresolvable, refused, unreachable, timeout, other_peer or not_libp2p."""
    detail: str = ""
    actual_peer_id: str = ""
    """For ``other_peer``: the id that answered."""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def definitive(self) -> bool:
        return self.verdict in DEFINITIVE

    def explain(self) -> str:
        """One line: what is wrong with this address and what to do about it."""
        return f"{self.maddr}: {_EXPLAIN[self.verdict](self)}"


def _where(c: BootstrapCheck) -> str:
    try:
        a = parse_peer_maddr(c.maddr)
    except AddressError:
        return c.maddr
    return f"[{a.host}]:{a.port}" if ":" in a.host else f"{a.host}:{a.port}"


_EXPLAIN = {
    "ok": lambda c: "answers (libp2p handshake with the expected peer id)",
    "malformed": lambda c: f"not a full multiaddr: {c.detail}",
    "unresolvable": lambda c: f"the host name does not resolve ({c.detail}): check it for typos (or this machine's DNS)",
    "refused": lambda c: f"connection refused at {_where(c)}: nothing listens there (the bootstrap peer is down, "
                         "or the port is wrong); check the port, or ask its operator whether it runs",
    "unreachable": lambda c: f"no route to {_where(c)} ({c.detail}): this machine's network or the address is wrong; "
                             "transient if the network is coming up",
    "timeout": lambda c: f"no answer from {_where(c)} within {c.detail} (a firewall drops the connection, or the host is "
                         "down): may be transient; check the address and that the port is open to you",
    "other_peer": lambda c: f"a different peer answers at {_where(c)} ({c.actual_peer_id or 'unknown id'}): the bootstrap "
                            "peer restarted with a new identity; ask for its current address (its operator keeps the id "
                            "stable with `swarm bootstrap --identity FILE`)",
    "not_libp2p": lambda c: f"{_where(c)} accepts connections but is not a libp2p peer ({c.detail}): wrong port?",
}


async def tcp_verdict(address: PeerAddress, timeout_s: float) -> tuple[str, str]:
    """(verdict, detail) of a plain TCP connect to the address; "ok" if it was accepted."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address.host, address.port), timeout_s)
    except asyncio.TimeoutError:
        return "timeout", f"{timeout_s:.0f} s"
    except socket.gaierror as exc:
        return "unresolvable", str(exc.strerror or exc)
    except ConnectionRefusedError:
        return "refused", ""
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
            return "unreachable", exc.strerror or str(exc)
        return "timeout" if exc.errno == errno.ETIMEDOUT else "unreachable", exc.strerror or str(exc)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return "ok", ""


async def libp2p_verdict(p2p: Any, address: PeerAddress, timeout_s: float) -> tuple[str, str, str]:
    """(verdict, detail, actual peer id) of a libp2p dial to the address with its expected peer id."""
    from hivemind.p2p import PeerID
    from hivemind.utils.multiaddr import Multiaddr

    transport_part = address.text.split("/p2p/")[0].split("/ipfs/")[0]
    try:
        async with asyncio.timeout(timeout_s):
            await p2p._client.connect(PeerID.from_base58(address.peer_id), [Multiaddr(transport_part)])
        return "ok", "", ""
    except TimeoutError:
        return "timeout", f"{timeout_s:.0f} s (TCP accepted, libp2p handshake did not finish)", ""
    except Exception as exc:  # p2pd reports every dial failure as one ControlFailure text
        return classify_dial_error(str(exc))


def classify_dial_error(text: str) -> tuple[str, str, str]:
    """(verdict, detail, actual peer id) from the p2p daemon's text for a failed dial whose TCP was accepted."""
    lowered = text.lower()
    if "peer id mismatch" in lowered or "remote key matches" in lowered or "unexpected peer" in lowered:
        match = _MISMATCH.search(text)
        return "other_peer", "peer id mismatch", match.group(1) if match else ""
    if "connection refused" in lowered:
        return "refused", "", ""
    if "timeout" in lowered or "deadline exceeded" in lowered or "i/o timeout" in lowered:
        return "timeout", "the libp2p handshake", ""
    return "not_libp2p", text.strip().splitlines()[-1][:160] if text.strip() else "handshake failed", ""


async def start_probe_p2p() -> Any:
    """A throwaway p2p daemon that dials out only: no listen address, no NAT mapping, no relays."""
    from hivemind.p2p import P2P

    return await P2P.create(host_maddrs=[], no_listen=True, auto_nat=False, nat_port_map=False, use_relay=False,
                            use_auto_relay=False, dht_mode="client", startup_timeout=30)


class BootstrapProbe:
    """Checks bootstrap addresses and asks their peers questions through one throwaway p2p daemon,
    started on first need (a TCP connect that was accepted) and stopped on exit.

        async with BootstrapProbe(timeout_s=5) as probe:
            checks = await probe.check(maddrs)
            reply = await probe.hello(checks[0], swarm_id="public-demo", ports=[31337])
    """

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.p2p: Any = None

    async def __aenter__(self) -> "BootstrapProbe":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.p2p is not None:
            p2p, self.p2p = self.p2p, None
            await p2p.shutdown()

    async def check(self, maddrs: Sequence[str]) -> list[BootstrapCheck]:
        """Every address checked in parallel (steps 1-3), in the order given."""
        tcp = await tcp_checks(maddrs, self.timeout_s)
        if not any(c.ok for c in tcp):
            return tcp
        if self.p2p is None:
            self.p2p = await start_probe_p2p()
        dials = await asyncio.gather(*(
            libp2p_verdict(self.p2p, parse_peer_maddr(c.maddr), self.timeout_s) if c.ok else _none() for c in tcp))
        return [BootstrapCheck(c.maddr, *d) if d is not None else c for c, d in zip(tcp, dials)]

    async def hello(self, check: BootstrapCheck, *, swarm_id: str, ports: Sequence[int] = ()) -> Any:
        """`swarm.hello.HelloReply` of the peer behind an ``ok`` address, or None if it does not answer
        (a peer without the handler, e.g. a plain ``hivemind-dht``)."""
        from hivemind.p2p import PeerID

        from swarm.hello import call_hello

        if not check.ok or self.p2p is None:
            return None
        try:
            return await call_hello(self.p2p, PeerID.from_base58(parse_peer_maddr(check.maddr).peer_id),
                                    swarm_id=swarm_id, ports=list(ports), timeout_s=self.timeout_s + 4.0)
        except Exception as exc:  # an old peer, a reset, a timeout: all mean "no answer"
            logger.debug("no hello from %s: %r", check.maddr, exc)
            return None


async def check_bootstraps(maddrs: Sequence[str], timeout_s: float = 5.0) -> list[BootstrapCheck]:
    """`BootstrapProbe.check` with a probe of its own."""
    async with BootstrapProbe(timeout_s) as probe:
        return await probe.check(maddrs)


async def tcp_checks(maddrs: Sequence[str], timeout_s: float = 5.0) -> list[BootstrapCheck]:
    """Steps 1 and 2 only (no hivemind, no daemon): ``ok`` here means the TCP connect was accepted."""

    async def one(maddr: str) -> BootstrapCheck:
        try:
            address = parse_peer_maddr(maddr)
        except AddressError as exc:
            return BootstrapCheck(maddr, "malformed", str(exc).removeprefix(maddr).lstrip(": ") or str(exc))
        if not address.tcp:
            return BootstrapCheck(maddr, "ok")  # QUIC: no TCP probe; the libp2p dial decides
        return BootstrapCheck(maddr, *await tcp_verdict(address, timeout_s))

    return list(await asyncio.gather(*(one(m) for m in maddrs)))


async def _none() -> None:
    return None


def summarize(checks: Sequence[BootstrapCheck]) -> str:
    """'every bootstrap address is wrong' / 'none answers yet' / '' (some answered)."""
    if any(c.ok for c in checks):
        return ""
    if all(c.definitive for c in checks):
        return "every bootstrap address is wrong; fix them and start again"
    return "no bootstrap peer answers yet (may be transient)"


def dead_bootstraps(maddrs: Sequence[str], timeout_s: float = 5.0) -> str | None:
    """The message when every address is definitively wrong by its TCP step alone (refused, unresolvable,
    malformed), else None: a connect each, no hivemind, no daemon (what `swarm join` asks first)."""
    checks = asyncio.run(tcp_checks(maddrs, timeout_s))
    if not checks or not all(c.definitive for c in checks):
        return None
    return "no bootstrap address works, and waiting will not fix it:\n  " + "\n  ".join(c.explain() for c in checks)
