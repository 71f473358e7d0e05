"""Why a bootstrap address does not work, told apart: typo, refused, timeout, or a peer with another id.

    checks = asyncio.run(tcp_checks(["/ip4/203.0.113.7/tcp/31337/p2p/12D3KooW..."], timeout_s=5))
    for c in checks: print(c.verdict, c.explain())
    dead_bootstraps(maddrs)   # steps 1-2 only, no hivemind: the message if every address is wrong for good

Each address goes through three steps and stops at the first that fails:

1. parse (`swarm.maddr`, no network): ``malformed``, e.g. no ``/p2p/<id>`` or a character missing from it;
2. a plain TCP connect to host:port: ``unresolvable`` (the DNS name does not resolve), ``refused``
   (nothing listens: the peer is down or the port is wrong), ``unreachable`` (no route) or ``timeout``
   (a firewall drops it, or the host is down);
3. a libp2p dial to the peer id through a throwaway p2p daemon (`swarm.transports.hivemind.probe`):
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
from typing import Sequence

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
