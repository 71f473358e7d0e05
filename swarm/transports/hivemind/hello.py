"""``sapo-swarm/hello/1``: one small question a peer answers: who are you, what time is it, can you reach me?

A joining node (or `swarm doctor`, or `swarm status`) asks a bootstrap peer or a node. The answer carries
the responder's swarm id, software and protocol versions and wall clock, and the address it sees the
caller at. If the caller names ports, the responder also tries a plain TCP connect back to *that
observed IP* on each of them (closed at once, at most `MAX_PORTS`): accepted means the caller is dialable
from outside; a timeout means a NAT or firewall is in the way. Only the observed IP is ever dialed, so
nobody can use the question to make a peer connect to a third host.

    await serve_hello(p2p, swarm_id="public-demo", window_seconds=10)   # on every bootstrap peer and node
    reply = await call_hello(p2p, peer_id, swarm_id="public-demo", ports=[31337])
    reply.dialable(31337), reply.swarm_id, reply.time

Requests and replies are msgpack maps of at most `MAX_MESSAGE_BYTES`, read with a length check before
the body; anything else is dropped. At most `MAX_CONCURRENT` questions are answered at once.

Reference: libp2p AutoNAT (github.com/libp2p/specs, ``autonat/README.md``): dial back only the observed
IP; Kubernetes' tcpSocket probe for "accepted means the path and the listener are up".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from protocol.messages import PROTOCOL_VERSION
from protocol.versions import package_version

logger = logging.getLogger(__name__)

HELLO_PROTOCOL = "sapo-swarm/hello/1"
MAX_MESSAGE_BYTES = 4096
MAX_PORTS = 4
MAX_CONCURRENT = 8
DIAL_BACK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class HelloReply:
    """What a peer answered; fields a hostile peer could fill are bounded strings and numbers."""

    swarm_id: str
    software: str
    protocol: tuple[int, int]
    time: float
    """The responder's wall clock when it answered (seconds since the epoch)."""
    observed: str
    """host:port the responder saw the caller's connection come from (after any NAT)."""
    window_seconds: float = 0.0
    """The responder's ``transport.window_seconds`` (records are keyed by window: peers must agree on it)."""
    dialback: dict[int, bool] = field(default_factory=dict)
    """Port -> whether a TCP connect back to the observed IP on it was accepted."""
    sent_at: float = 0.0
    received_at: float = 0.0

    def dialable(self, port: int) -> bool | None:
        return self.dialback.get(port)

    @property
    def clock_offset_s(self) -> float:
        """The responder's clock minus ours, NTP style (midpoint of our send and receive times)."""
        return self.time - (self.sent_at + self.received_at) / 2


async def write_frame(writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
    data = msgpack.packb(payload, use_bin_type=True)
    writer.write(len(data).to_bytes(4, "big") + data)
    await writer.drain()


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    """One length-prefixed msgpack map of at most `MAX_MESSAGE_BYTES`; `ValueError` for anything else."""
    size = int.from_bytes(await reader.readexactly(4), "big")
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"hello frame of {size} bytes (at most {MAX_MESSAGE_BYTES})")
    value = msgpack.unpackb(await reader.readexactly(size), raw=False, strict_map_key=True)
    if not isinstance(value, dict):
        raise ValueError("hello frame is not a map")
    return value


async def tcp_accepts(host: str, port: int, timeout_s: float) -> bool:
    """A plain TCP connect, closed at once: True if it was accepted within `timeout_s`."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def observed_host(addr: Any) -> tuple[str, int] | None:
    """(ip, port) of a connection's remote multiaddr such as ``/ip4/10.0.0.2/tcp/4001``, else None."""
    parts = str(addr).split("/")
    if len(parts) >= 5 and parts[1] in ("ip4", "ip6") and parts[3] == "tcp" and parts[4].isdigit():
        return parts[2], int(parts[4])
    return None


class HelloServer:
    """Answers hello questions for one p2p daemon (`serve_hello` registers it)."""

    def __init__(self, swarm_id: str, window_seconds: float = 0.0, dial_back_timeout_s: float = DIAL_BACK_TIMEOUT_S) -> None:
        self.swarm_id, self.window_seconds, self.dial_back_timeout_s = swarm_id, window_seconds, dial_back_timeout_s
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self.answered = 0

    async def handle(self, stream_info: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Called by the p2p daemon client for each incoming hello stream."""
        try:
            if self._slots.locked():
                return  # busy: the caller times out and treats the answer as unknown
            async with self._slots:
                request = await asyncio.wait_for(read_frame(reader), self.dial_back_timeout_s)
                await write_frame(writer, await self.answer(request, observed_host(stream_info.addr)))
                self.answered += 1
        except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError, msgpack.UnpackException) as exc:
            logger.debug("hello from %s dropped: %s", getattr(stream_info, "peer_id", "?"), type(exc).__name__)
        finally:
            writer.close()

    async def answer(self, request: dict[str, Any], observed: tuple[str, int] | None) -> dict[str, Any]:
        ports = request.get("ports", [])
        ports = [p for p in ports if isinstance(p, int) and 0 < p < 65536][:MAX_PORTS] if isinstance(ports, list) else []
        dialback: dict[int, bool] = {}
        if observed is not None and ports:
            results = await asyncio.gather(*(tcp_accepts(observed[0], p, self.dial_back_timeout_s) for p in ports))
            dialback = dict(zip(ports, results))
        return {"swarm_id": self.swarm_id, "software": package_version(), "protocol": list(PROTOCOL_VERSION),
                "time": time.time(), "observed": f"{observed[0]}:{observed[1]}" if observed else "",
                "window_seconds": self.window_seconds,
                "dialback": [[port, ok] for port, ok in dialback.items()]}


async def serve_hello(p2p: Any, swarm_id: str, window_seconds: float = 0.0) -> HelloServer:
    """Register the hello handler on a hivemind `P2P`; returns the server (for its counters)."""
    server = HelloServer(swarm_id, window_seconds)
    await p2p.add_binary_stream_handler(HELLO_PROTOCOL, server.handle)
    return server


async def call_hello(p2p: Any, peer_id: Any, *, swarm_id: str, ports: list[int] = (), timeout_s: float = 8.0) -> HelloReply:
    """Ask one peer; `asyncio.TimeoutError`, `OSError` or `ValueError` (and hivemind's `P2PDaemonError`,
    `ControlFailure`) when it does not answer: an old peer without the handler, or unreachable."""
    async with asyncio.timeout(timeout_s):
        _, reader, writer = await p2p.call_binary_stream_handler(peer_id, HELLO_PROTOCOL)
        try:
            sent_at = time.time()
            await write_frame(writer, {"swarm_id": swarm_id, "ports": list(ports)[:MAX_PORTS]})
            reply = await read_frame(reader)
            received_at = time.time()
        finally:
            writer.close()
    return parse_reply(reply, sent_at, received_at)


def parse_reply(reply: dict[str, Any], sent_at: float, received_at: float) -> HelloReply:
    """Check a reply's types and bounds; `ValueError` if it is not a hello reply."""
    protocol = reply.get("protocol")
    dialback = reply.get("dialback", [])
    if not (isinstance(reply.get("swarm_id"), str) and isinstance(reply.get("software"), str)
            and isinstance(reply.get("time"), (int, float)) and isinstance(protocol, list) and len(protocol) == 2
            and all(isinstance(v, int) for v in protocol) and isinstance(dialback, list)):
        raise ValueError("malformed hello reply")
    return HelloReply(_clean(reply["swarm_id"], 64), _clean(reply["software"], 32), (protocol[0], protocol[1]),
                      float(reply["time"]), _clean(str(reply.get("observed", "")), 64),
                      _window(reply.get("window_seconds")),
                      {p[0]: bool(p[1]) for p in dialback[:MAX_PORTS] if isinstance(p, list) and len(p) == 2 and isinstance(p[0], int)},
                      sent_at, received_at)


def _clean(text: str, limit: int) -> str:
    """A peer's string made safe to print: at most `limit` characters, anything unprintable as ``?``."""
    return "".join(ch if ch.isprintable() and ch.isascii() else "?" for ch in text[:limit])


def _window(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and 0 < value <= 3600 else 0.0
