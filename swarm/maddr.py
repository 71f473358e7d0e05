"""Reading a peer's multiaddr by hand: the checks a typo needs, with no hivemind import and no dial.

A bootstrap address must be complete: where (``/ip4|ip6|dns|dns4|dns6/HOST``), how (``/tcp/PORT`` or
``/udp/PORT/quic-v1``) and who (``/p2p/PEER_ID``, a base58 libp2p peer id). Anything else is refused
with the part that is wrong and how to fix it, in a few microseconds, before the CLI imports hivemind.

    >>> a = parse_peer_maddr("/ip4/203.0.113.7/tcp/31337/p2p/12D3KooWB1hQkagaJHDL3s8TAvLYHjCnweX1Yixsg1JNFwLdyrk9")
    >>> (a.host, a.port, a.peer_id[:8])
    ('203.0.113.7', 31337, '12D3KooW')
    >>> parse_peer_maddr("/ip4/203.0.113.7/tcp/31337")
    Traceback (most recent call last):
    ...
    swarm.maddr.AddressError: /ip4/203.0.113.7/tcp/31337 has no /p2p/<peer id> at the end: copy the whole address the bootstrap peer printed (it ends in /p2p/12D3KooW... or /p2p/Qm...)

Reference: multiaddr spec (github.com/multiformats/multiaddr), libp2p peer ids (github.com/libp2p/specs,
``peer-ids/peer-ids.md``): base58btc of a multihash, identity (0x00) for Ed25519 keys, sha2-256 (0x12) else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_HOSTS = ("ip4", "ip6", "dns", "dns4", "dns6")
_WHOLE = "copy the whole address the bootstrap peer printed (it ends in /p2p/12D3KooW... or /p2p/Qm...)"


class AddressError(ValueError):
    """Raised by `parse_peer_maddr` when a text is not a complete peer multiaddr; the message names the
    wrong part and the fix. Not raised for an address that is well formed but unreachable (see `swarm.diagnose`)."""


@dataclass(frozen=True)
class PeerAddress:
    """A parsed ``/<family>/<host>/<transport>/<port>[/quic-v1]/p2p/<peer id>``."""

    text: str
    family: str
    """ip4, ip6, dns, dns4 or dns6."""
    host: str
    transport: str
    """tcp or udp (QUIC)."""
    port: int
    peer_id: str

    @property
    def tcp(self) -> bool:
        return self.transport == "tcp"


def b58decode(text: str) -> bytes:
    """base58btc (bitcoin alphabet) to bytes; `ValueError` on a character outside the alphabet."""
    number = 0
    for ch in text:
        index = _B58.find(ch)
        if index < 0:
            raise ValueError(f"{ch!r} is not a base58 character")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def check_peer_id(text: str) -> str | None:
    """None if `text` is a libp2p peer id (base58 multihash, identity or sha2-256), else what is wrong with it."""
    if not text:
        return "is empty"
    try:
        raw = b58decode(text)
    except ValueError as exc:
        return f"is not base58 ({exc})"
    if len(raw) < 2 or raw[0] not in (0x00, 0x12) or raw[1] != len(raw) - 2 or (raw[0] == 0x12 and raw[1] != 32):
        return "is not a libp2p peer id (wrong length or prefix: a character missing or added?)"
    return None


def parse_peer_maddr(text: str) -> PeerAddress:
    """Parse a bootstrap multiaddr; `AddressError` says what is wrong and how to fix it."""
    text = text.strip()
    if "<" in text or ">" in text:
        raise AddressError(f"{text} is a placeholder: replace it with the address a bootstrap peer printed")
    if not text.startswith("/"):
        raise AddressError(f"{text!r} is not a multiaddr (it starts with /ip4/, /ip6/ or /dns4/): {_WHOLE}")
    parts = text.split("/")[1:]
    if len(parts) < 4 or parts[0] not in _HOSTS:
        raise AddressError(f"{text} does not start with /ip4/HOST, /ip6/HOST or /dns4/NAME followed by /tcp/PORT: {_WHOLE}")
    family, host, transport, port_text, rest = parts[0], parts[1], parts[2], parts[3], parts[4:]
    _check_host(text, family, host)
    if transport not in ("tcp", "udp"):
        raise AddressError(f"{text}: expected /tcp/PORT after the host, found /{transport}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AddressError(f"{text}: {port_text!r} is not a port (1-65535)")
    if transport == "udp":
        if not rest or rest[0] not in ("quic", "quic-v1"):
            raise AddressError(f"{text}: a /udp/ address must go on with /quic-v1")
        rest = rest[1:]
    if not rest or rest[0] not in ("p2p", "ipfs"):
        raise AddressError(f"{text} has no /p2p/<peer id> at the end: {_WHOLE}")
    if len(rest) != 2:
        raise AddressError(f"{text}: expected exactly one peer id after /p2p/ and nothing after it")
    problem = check_peer_id(rest[1])
    if problem is not None:
        raise AddressError(f"{text}: the peer id {rest[1]!r} {problem}; {_WHOLE}")
    return PeerAddress(text, family, host, transport, int(port_text), rest[1])


def _check_host(text: str, family: str, host: str) -> None:
    if not host:
        raise AddressError(f"{text}: the host after /{family}/ is empty")
    if family in ("ip4", "ip6"):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise AddressError(f"{text}: {host!r} is not an {family} address (for a name use /dns4/{host})") from None
        if (ipaddress.ip_address(host).version == 4) != (family == "ip4"):
            raise AddressError(f"{text}: {host} is not an {family} address")
    elif not all(ch.isalnum() or ch in "-._" for ch in host):
        raise AddressError(f"{text}: {host!r} is not a host name")


def tcp_port(maddr: str) -> int | None:
    """The TCP port of a listen multiaddr such as ``/ip4/0.0.0.0/tcp/31337`` (0: any free port), else None."""
    parts = maddr.split("/")
    if len(parts) >= 5 and parts[1] in _HOSTS and parts[3] == "tcp" and parts[4].isdigit():
        return int(parts[4])
    return None


def listen_host(maddr: str) -> str | None:
    """The host of a listen multiaddr (``0.0.0.0``, ``127.0.0.1``, ``::``), else None."""
    parts = maddr.split("/")
    return parts[2] if len(parts) >= 3 and parts[1] in ("ip4", "ip6") else None


def with_port(maddr: str, port: int) -> str:
    """The same listen multiaddr with another TCP port: ``/ip4/0.0.0.0/tcp/0`` -> ``/ip4/0.0.0.0/tcp/41234``."""
    parts = maddr.split("/")
    if len(parts) < 5 or parts[3] != "tcp":
        raise ValueError(f"{maddr} is not a /ipX/HOST/tcp/PORT address")
    parts[4] = str(port)
    return "/".join(parts)
