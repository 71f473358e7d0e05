"""A userspace TCP fault proxy (toxiproxy-style) for links that `tc netem` cannot shape on this kernel.

    python -m benchmarks.chaos.proxy --listen 10.77.0.1:4100 --target 127.0.0.1:4000 \
        --latency-ms 100 --jitter-ms 20 --rate-kbit 1000 --seed 7

One listening address forwards every accepted connection to one target. Per direction of each
connection, a chunk read at time ``now`` is written at ``max(previous deliver_at, now + latency ±
uniform jitter)``, so jitter never reorders bytes. An optional rate limit (bits/s, shared by all the
connections of one direction: the node's link) paces the writes. Commands change this live:

    {"latency_ms": 0, "jitter_ms": 0}   {"rate_kbit": 1000}   {"rate_kbit": 0}  (0: unlimited)
    {"stall": true}   (stop forwarding; bytes wait in the proxy)   {"stall": false}
    {"reset": true}   (RST both sides of every open connection)   {"stats": true}   {"quit": true}

As a script it prints ``{"event": "ready", "listen": ..., "seed": ...}``, then one JSON line per stdin
command (``{"event": "applied", "params": ..., "stats": ...}``). A TCP proxy cannot drop packets:
the kernel retransmits below it, so loss is not one of its faults. Stdlib only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import struct
import sys
from dataclasses import asdict, dataclass, field

READ_BYTES = 64 * 1024
PACED_SLICE = 4 * 1024
"""Rate-limited writes go out in slices this big, so a big read does not leave as one burst."""
QUEUED_CHUNKS = 256
"""Chunks held per direction before the proxy stops reading (TCP backpressure reaches the sender)."""


@dataclass
class Shaping:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_kbit: float = 0.0
    """0: unlimited."""
    burst_bytes: int = 16 * 1024
    stall: bool = False


@dataclass
class ProxyStats:
    connections: int = 0
    open: int = 0
    bytes_to_target: int = 0
    bytes_to_client: int = 0
    resets: int = 0
    target_refused: int = 0


class DelaySchedule:
    """deliver_at of successive chunks of one direction: now + latency ± jitter, never before the previous one."""

    def __init__(self, shaping: Shaping, rng: random.Random) -> None:
        self.shaping, self.rng, self.last = shaping, rng, 0.0

    def deliver_at(self, now: float) -> float:
        s = self.shaping
        delay = max(0.0, s.latency_ms + self.rng.uniform(-s.jitter_ms, s.jitter_ms)) / 1000.0 if s.latency_ms or s.jitter_ms else 0.0
        self.last = max(self.last, now + delay)
        return self.last


class Pacer:
    """Virtual-time token bucket for one direction: ``n`` more bytes may leave once the link is at most
    ``burst_bytes`` behind (an idle link sends a burst at once, then the rate)."""

    def __init__(self, shaping: Shaping) -> None:
        self.shaping, self.free_at = shaping, 0.0

    def wait_for(self, n: int, now: float) -> float:
        bits_per_s = self.shaping.rate_kbit * 1000.0
        if bits_per_s <= 0:
            return 0.0
        burst_s = self.shaping.burst_bytes * 8 / bits_per_s
        self.free_at = max(self.free_at, now) + n * 8 / bits_per_s  # when the link has sent these bytes
        return max(0.0, self.free_at - burst_s - now)


@dataclass(eq=False)
class Link:
    """One proxied connection: its two writers and the tasks that move its bytes."""

    client: asyncio.StreamWriter
    target: asyncio.StreamWriter
    tasks: list[asyncio.Task] = field(default_factory=list)

    def abort(self, rst: bool = False) -> None:
        for writer in (self.client, self.target):
            if rst:  # SO_LINGER 0: close() sends RST instead of FIN
                with contextlib.suppress(OSError, AttributeError):
                    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class ChaosProxy:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int], shaping: Shaping | None = None, seed: int | None = None) -> None:
        self.listen, self.target = listen, target
        self.shaping = shaping or Shaping()
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        self.rng = random.Random(self.seed)
        self.stats = ProxyStats()
        self.pacers = {"to_target": Pacer(self.shaping), "to_client": Pacer(self.shaping)}
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.links: set[Link] = set()

    async def start(self) -> ChaosProxy:
        self.server = await asyncio.start_server(self._accept, *self.listen, reuse_address=True)
        self.listen = self.server.sockets[0].getsockname()[:2]
        return self

    def apply(self, **params: float | bool) -> None:
        """Change shaping live; ``reset=True`` resets every open connection."""
        unknown = set(params) - {"reset", "stall"} - set(asdict(self.shaping))
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        for key, value in params.items():
            if key == "reset":
                if value:
                    self.reset()
            elif key == "stall":
                self.shaping.stall = bool(value)
                self.flowing.clear() if value else self.flowing.set()
            else:
                setattr(self.shaping, key, type(getattr(self.shaping, key))(value))

    def reset(self) -> None:
        """RST both sides of every open connection."""
        for link in list(self.links):
            self.stats.resets += 1
            link.abort(rst=True)
            for task in link.tasks:
                task.cancel()
        self.links.clear()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        tasks = [t for link in self.links for t in link.tasks]
        for link in list(self.links):
            link.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    def describe(self) -> dict:
        return {"listen": f"{self.listen[0]}:{self.listen[1]}", "target": f"{self.target[0]}:{self.target[1]}",
                "seed": self.seed, "params": asdict(self.shaping), "stats": asdict(self.stats)}

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.stats.target_refused += 1
            client_writer.transport.abort()
            return
        link = Link(client_writer, target_writer)
        link.tasks = [asyncio.create_task(self._pipe(link, client_reader, target_writer, "to_target")),
                      asyncio.create_task(self._pipe(link, target_reader, client_writer, "to_client"))]
        self.links.add(link)
        self.stats.connections += 1
        self.stats.open += 1
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self.links.discard(link)
            self.stats.open -= 1
            link.abort()

    async def _pipe(self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str) -> None:
        """Read chunks and stamp each with its deliver_at; one writer task delivers them in order.
        EOF is passed on (half-close) with the same delay; an error on either side aborts the whole link."""
        loop = asyncio.get_running_loop()
        schedule = DelaySchedule(self.shaping, self.rng)
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUED_CHUNKS)
        deliver = asyncio.create_task(self._deliver(link, chunks, writer, direction))
        try:
            while data := await reader.read(READ_BYTES):
                if deliver.done():
                    break
                await chunks.put((schedule.deliver_at(loop.time()), data))
            else:
                await chunks.put((schedule.deliver_at(loop.time()), b""))
            await deliver
        except (ConnectionError, OSError):
            link.abort()
        finally:
            deliver.cancel()

    async def _deliver(self, link: Link, chunks: asyncio.Queue, writer: asyncio.StreamWriter, direction: str) -> None:
        try:
            await self._deliver_chunks(chunks, writer, direction)
        except (ConnectionError, OSError):
            link.abort()  # wakes the reader of this direction too

    async def _deliver_chunks(self, chunks: asyncio.Queue, writer: asyncio.StreamWriter, direction: str) -> None:
        loop, pacer = asyncio.get_running_loop(), self.pacers[direction]
        while True:
            at, data = await chunks.get()
            if (wait := at - loop.time()) > 0:
                await asyncio.sleep(wait)  # the injected latency itself
            await self.flowing.wait()
            if not data:
                if writer.can_write_eof() and not writer.transport.is_closing():
                    writer.write_eof()
                return
            step = PACED_SLICE if self.shaping.rate_kbit > 0 else len(data)
            for i in range(0, len(data), step):
                piece = data[i:i + step]
                if (wait := pacer.wait_for(len(piece), loop.time())) > 0:
                    await asyncio.sleep(wait)  # the rate limit itself
                await self.flowing.wait()
                writer.write(piece)
                await writer.drain()
                setattr(self.stats, f"bytes_{direction}", getattr(self.stats, f"bytes_{direction}") + len(piece))


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def serve(args: argparse.Namespace) -> None:
    shaping = Shaping(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, rate_kbit=args.rate_kbit)
    proxy = await ChaosProxy(host_port(args.listen), host_port(args.target), shaping, args.seed).start()
    print(json.dumps({"event": "ready", **proxy.describe()}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            if not line.strip():
                continue
            try:
                cmd = json.loads(line)
                if cmd.pop("quit", False):
                    break
                cmd.pop("stats", None)
                proxy.apply(**cmd)
                reply = {"event": "applied", **proxy.describe()}
            except (ValueError, TypeError) as exc:
                reply = {"event": "error", "message": str(exc)}
            print(json.dumps(reply), flush=True)
    finally:
        await proxy.close()
        print(json.dumps({"event": "closed", **proxy.describe()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept on")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="one-way delay added per direction")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="uniform ± jitter on the delay")
    parser.add_argument("--rate-kbit", type=float, default=0.0, help="per-direction rate limit, kbit/s (0: none)")
    parser.add_argument("--seed", type=int, default=None, help="jitter RNG seed (random if unset; always printed)")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
