"""Listening ports before the p2p daemon takes them: in use, free, chosen, and what the user is told.

go-libp2p binds with SO_REUSEPORT, so a second node on ``/ip4/0.0.0.0/tcp/31337`` binds too and the
kernel splits incoming connections between the two: half of the dials reach the wrong node. A plain
bind (no SO_REUSEPORT) on the same port fails while anyone listens there, which is the check here.

    >>> port_in_use("127.0.0.1", 0)
    False
    >>> claim_listen_ports(["/ip4/127.0.0.1/tcp/0"])[0][0].startswith("/ip4/127.0.0.1/tcp/")
    True
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from swarm.maddr import listen_host, tcp_port, with_port


class PortInUseError(Exception):
    """Raised by `claim_listen_ports` when a pinned port is taken; the message names a free one to use."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_in_use(host: str, port: int) -> bool:
    """True if a plain bind of (host, port) fails because someone listens there (or holds it bound)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def free_port(host: str = "0.0.0.0", after: int | None = None) -> int:
    """A port free now: the first free one above `after` (up to 100 tried), else one the kernel picks."""
    for port in range(after + 1, min(after + 101, 65536)) if after else ():
        if not port_in_use(host, port):
            return port
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def is_loopback(maddrs: list[str]) -> bool:
    """True if every listen address is on loopback (peers on other machines cannot reach it)."""
    hosts = [listen_host(m) for m in maddrs]
    return bool(hosts) and all(h is not None and ipaddress.ip_address(h).is_loopback for h in hosts)


def claim_listen_ports(maddrs: list[str]) -> tuple[list[str], list[str]]:
    """(listen addresses with every port 0 replaced by a free port, notes for the user).

    Raises `PortInUseError` for a pinned port that is taken, naming a free one to use instead."""
    out, notes = [], []
    for maddr in maddrs:
        host, port = listen_host(maddr), tcp_port(maddr)
        if host is None or port is None:
            out.append(maddr)
            continue
        if port == 0:
            port = free_port(host)
            notes.append(f"listening on port {port}, chosen at random (host_maddrs asks for port 0; pin one with "
                         "--port so your address survives a restart)")
        elif port_in_use(host, port):
            raise PortInUseError(
                f"port {port} on {host} is already in use (another sapo-swarm node on this host? each node needs its "
                f"own port, or dials reach the wrong one): start this one with --port {free_port(host, port)} (free now), "
                f"or stop the other")
        out.append(with_port(maddr, port))
    return out, notes


def listen_ports(maddrs: list[str]) -> list[int]:
    """The non-zero TCP ports of listen or announce addresses, in order, without repeats."""
    return list(dict.fromkeys(p for m in maddrs if (p := tcp_port(m))))


def taken_port(maddrs: list[str]) -> str | None:
    """``"port P on HOST"`` for the first pinned listen port someone already holds, else None."""
    for maddr in maddrs:
        host, port = listen_host(maddr), tcp_port(maddr)
        if host is not None and port and port_in_use(host, port):
            return f"port {port} on {host}"
    return None
