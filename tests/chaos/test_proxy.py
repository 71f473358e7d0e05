"""The userspace fault proxy of the chaos benchmark (`benchmarks.chaos.proxy`), on loopback only:
an echo server behind it sees the latency, order, rate limit and reset the proxy is told to give."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from benchmarks.chaos.proxy import ChaosProxy, DelaySchedule, Pacer, Shaping

REPO = Path(__file__).resolve().parents[2]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with __import__("contextlib").suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


def behind_proxy(shaping: Shaping, body: Callable[[ChaosProxy, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
    """Run `body(proxy, reader, writer)` with a client connected to an echo server through the proxy."""

    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        proxy = await ChaosProxy(("127.0.0.1", 0), server.sockets[0].getsockname()[:2], shaping, seed=1).start()
        try:
            reader, writer = await asyncio.open_connection(*proxy.listen)
            await asyncio.wait_for(body(proxy, reader, writer), 10)
            writer.close()
        finally:
            await proxy.close()
            server.close()

    asyncio.run(main())


def test_round_trip_is_twice_the_latency() -> None:
    async def body(proxy, reader, writer) -> None:
        rtts = []
        for _ in range(5):
            t0 = time.monotonic()
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            rtts.append(time.monotonic() - t0)
        assert 0.095 <= min(rtts) and max(rtts) < 0.2, rtts
        proxy.apply(latency_ms=0)
        t0 = time.monotonic()
        writer.write(b"fast")
        await reader.readexactly(4)
        assert time.monotonic() - t0 < 0.05
        assert proxy.stats.connections == 1 and proxy.stats.bytes_to_target == proxy.stats.bytes_to_client == 24

    behind_proxy(Shaping(latency_ms=50), body)


def test_jitter_never_reorders() -> None:
    shaping = Shaping(latency_ms=20, jitter_ms=20)
    schedule, now, last = DelaySchedule(shaping, random.Random(3)), 0.0, 0.0
    for _ in range(1000):
        now += 0.001
        at = schedule.deliver_at(now)
        assert at >= last and now <= at <= now + 0.040 + 1e-9
        last = at

    async def body(proxy, reader, writer) -> None:
        sent = b""
        for i in range(200):
            msg = f"{i:05d}|".encode()
            writer.write(msg)
            sent += msg
            await asyncio.sleep(0.001)  # separate reads in the proxy, so each gets its own jittered delay
        assert await reader.readexactly(len(sent)) == sent

    behind_proxy(shaping, body)


def test_rate_limit_bounds_throughput() -> None:
    rate_kbit, size = 800, 60_000  # 100 kB/s each way, 16 KiB burst

    async def body(proxy, reader, writer) -> None:
        t0 = time.monotonic()
        writer.write(b"x" * size)
        await reader.readexactly(size)
        elapsed = time.monotonic() - t0
        floor = (size - proxy.shaping.burst_bytes) * 8 / (rate_kbit * 1000)
        assert floor * 0.9 <= elapsed <= floor * 1.5 + 0.3, (elapsed, floor)

    behind_proxy(Shaping(rate_kbit=rate_kbit), body)
    assert Pacer(Shaping(rate_kbit=0)).wait_for(10**9, 0.0) == 0.0


def test_stall_holds_bytes_until_released() -> None:
    async def body(proxy, reader, writer) -> None:
        proxy.apply(stall=True)
        writer.write(b"held")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.readexactly(4), 0.2)
        proxy.apply(stall=False)
        assert await asyncio.wait_for(reader.readexactly(4), 1) == b"held"

    behind_proxy(Shaping(), body)


def test_reset_closes_the_client_connection() -> None:
    async def body(proxy, reader, writer) -> None:
        writer.write(b"hi")
        await reader.readexactly(2)
        proxy.apply(reset=True)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 1)
        assert proxy.stats.resets == 1

    behind_proxy(Shaping(), body)


def test_script_announces_ready_and_takes_commands() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.chaos.proxy", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9",
                             "--latency-ms", "100", "--jitter-ms", "20", "--seed", "5"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["seed"] == 5 and ready["params"]["latency_ms"] == 100
        proc.stdin.write('{"latency_ms": 0, "rate_kbit": 1000}\n{"bogus": 1}\n{"quit": true}\n')
        proc.stdin.flush()
        applied, error, closed = (json.loads(proc.stdout.readline()) for _ in range(3))
        assert applied["params"]["latency_ms"] == 0 and applied["params"]["rate_kbit"] == 1000
        assert error["event"] == "error" and closed["event"] == "closed"
        assert proc.wait(5) == 0
    finally:
        proc.kill()
        proc.wait()
