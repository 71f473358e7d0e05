"""One gossip benchmark node: a transport process driven by JSON lines (`tests/swarm/node_proc.py`),
with both patterns' rounds and the byte and CPU counters the tables need.

    python benchmarks/gossip/node.py '{"swarm_id": "bench4", ...}' SEED     # started by `launch_swarm`

Commands (one JSON reply each): ``ref_start`` (join the reference pattern's own DHT), ``sharded`` and
``reference`` (one all-at-once round), ``publish_both`` and ``solo`` (one collector at a time), plus
node_proc's own. Bytes read count every DHT value read, every record pushed to the node and every part
fetched from its publisher; the counters wrap the transport's store and receive path, the only place
this benchmark reaches inside the transport.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # started as a script by `launch_swarm`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.gossip.reference import ReferencePeer, daemon_cpu_s  # noqa: E402
from protocol import RecordVerifier, seal  # noqa: E402
from tests.swarm import node_proc  # noqa: E402


class CountingStore:
    """Wraps a transport's `RecordStore` and counts application bytes written to and read from the DHT.

    ``read`` also counts records pushed to the node and parts fetched from their publisher; ``pushed`` and
    ``pushed_cpu_s`` are the pushed bytes and the CPU the node's receive path spent checking them (pushes
    arrive while peers publish, before the node collects, so a collect's own window misses them)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.read, self.written = inner, 0, 0
        self.pushed, self.pushed_cpu_s = 0, 0.0

    def time(self) -> float:
        return self.inner.time()

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        self.written += len(value)
        return await self.inner.store(key, subkey, value, expiration)

    async def get(self, key: str, latest: bool = True) -> Any:
        found = await self.inner.get(key, latest)
        self.read += sum(len(v) for v, _ in found.values())
        return found


def count_reads(transport: Any) -> CountingStore:
    """Count what reaches the sharded transport: DHT reads and writes, pushed records, directly fetched parts."""
    counter = transport.store = transport.receiver.store = CountingStore(transport.store)
    receiver = transport.receiver  # every pushed record and every part fetched directly passes through it
    accept_pushed = receiver.accept_pushed

    def counted(key: str, window: int, subkey: str, value: bytes, expiration: float, **kwargs: Any) -> bool:
        counter.read += len(value)  # a pushed record is read too, just not from the DHT
        counter.pushed += len(value)
        cpu0 = node_proc.cpu_s()
        try:
            return accept_pushed(key, window, subkey, value, expiration, **kwargs)
        finally:
            counter.pushed_cpu_s += node_proc.cpu_s() - cpu0

    receiver.accept_pushed = counted
    if receiver.direct is not None:
        fetch = receiver.direct.fetch

        async def counted_fetch(source: str, digests: Any) -> dict[str, bytes]:
            found = await fetch(source, digests)
            counter.read += sum(map(len, found.values()))
            return found

        receiver.direct.fetch = counted_fetch
    return counter


def rss_mb() -> float:
    """Resident memory of this node process (its p2pd daemons not included)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


class BenchNode(node_proc.Node):
    def __init__(self, transport: Any) -> None:
        super().__init__(transport)
        self.counter = count_reads(transport)
        config = transport.config
        self.secret = config.swarm_secret.encode() if config.swarm_secret else None
        self.verifier = RecordVerifier(config.swarm_id, self.secret)
        self.ref: ReferencePeer | None = None
        self.round_start = (0, 0.0)
        """(pushed bytes, push CPU s) when the current one-collector-at-a-time round began."""
        # Each benchmark round is its own time window, as a node's rounds are window-paced: records of
        # earlier rounds are then in closed windows, not re-read as if several rounds shared one window.
        self.round = 0
        transport.clock = lambda: (self.round + 0.5) * config.window_seconds
        stop = transport.stop

        async def stop_both() -> None:  # node_proc stops the transport on "quit": the reference's node goes too
            if self.ref is not None:
                await self.ref.stop()
            await stop()

        transport.stop = stop_both

    def _batch(self, batch_id: str, size: int) -> Any:
        return node_proc.make_batch(self.t.identity, self.t.config.swarm_id, self.t.window(), batch_id, size)

    def _start(self) -> tuple[float, int, int]:
        return node_proc.cpu_s(), self.counter.read, self.counter.written

    def _done(self, start: tuple[float, int, int], **fields: Any) -> dict[str, Any]:
        cpu0, read0, written0 = start
        return {"cpu_s": node_proc.cpu_s() - cpu0, "read": self.counter.read - read0,
                "written": self.counter.written - written0, "rss_mb": rss_mb(), **fields}

    async def ref_start(self, initial_peers: list[str]) -> dict[str, Any]:
        """Start this node's reference-pattern DHT node; replies with its multiaddrs."""
        self.ref = await ReferencePeer.create(initial_peers, self.t.config.swarm_id, self.verifier)
        return {"maddrs": await self.ref.maddrs()}

    async def sharded(self, rnd: int, size: int, want: int) -> dict[str, Any]:
        """Ours: publish, then collect every 50 ms until ``want`` batches of this round or 3 s."""
        self.round = rnd
        start, batch_id = self._start(), f"s{rnd}"
        batch = self._batch(batch_id, size)
        t0 = time.time()
        await self.t.publish(batch)
        t1, got = time.time(), {}
        while len(got) < want and time.time() < t1 + 3.0:
            for b in await self.t.collect(want):
                if b.batch_id == batch_id:
                    got[b.sender] = (time.time() - b.created_at, b.num_rollouts)
            if len(got) < want:
                await asyncio.sleep(0.05)
        return self._done(start, publish_s=t1 - t0, collect_s=time.time() - t1,
                          latencies=[v[0] for v in got.values()], rollouts=sum(v[1] for v in got.values()), empty=False)

    async def reference(self, rnd: int, size: int, want: int) -> dict[str, Any]:
        """The reference: store under the round's one key, sleep 1 s, one get."""
        assert self.ref is not None, "ref_start first"
        start = self._start()
        value = seal(self._batch(f"r{rnd}", size), self.t.identity, self.secret)
        t0 = time.time()
        await self.ref.store(rnd, value, subkey=self.t.peer_id)
        self.counter.written += len(value)
        t1 = time.time()
        await asyncio.sleep(1.0)
        read, batches, empty = await self.ref.collect(rnd, own=self.t.peer_id)
        self.counter.read += read
        return self._done(start, publish_s=t1 - t0, collect_s=time.time() - t1,
                          latencies=[time.time() - b.created_at for b in batches],
                          rollouts=sum(b.num_rollouts for b in batches), empty=empty)

    async def publish_both(self, rnd: int, size: int, reference: bool = True) -> dict[str, Any]:
        """One collector at a time, step 1: every node publishes with both patterns."""
        self.round = rnd
        self.round_start = (self.counter.pushed, self.counter.pushed_cpu_s)
        await self.t.publish(self._batch(f"s{rnd}", size))
        if reference:
            assert self.ref is not None, "ref_start first"
            await self.ref.store(rnd, seal(self._batch(f"r{rnd}", size), self.t.identity, self.secret), subkey=self.t.peer_id)
        return {}

    async def solo(self, pattern: str, rnd: int, want: int) -> dict[str, Any]:
        """One collector at a time, step 2: this node alone collects with ``pattern``. CPU includes its p2pd during
        the collect; for ``sharded``, bytes and CPU also include what was pushed to it since the round began."""
        self.round = rnd
        daemon = (lambda: daemon_cpu_s(self.t.node.p2p)) if pattern == "sharded" else self.ref.daemon_cpu_s
        cpu0, daemon0, pushed0, t0 = node_proc.cpu_s(), daemon(), (self.counter.pushed, self.counter.pushed_cpu_s), time.time()
        dht0, got, pushed, push_cpu = self.counter.read - self.counter.pushed, 0, 0, 0.0
        if pattern == "sharded":
            while got < want and time.time() < t0 + 3.0:
                got += len(await self.t.collect(want - got))  # any fresh verified batch serves the node
                if got < want:
                    await asyncio.sleep(0.02)
            pushed, push_cpu = self.counter.pushed - self.round_start[0], self.counter.pushed_cpu_s - self.round_start[1]
            before_collect = pushed0[1] - self.round_start[1]  # push CPU inside the collect is already in cpu_s
        else:
            read, batches, _ = await self.ref.collect(rnd, own=self.t.peer_id)
            self.counter.read += read
            got, before_collect = len(batches), 0.0
        dht = self.counter.read - self.counter.pushed - dht0
        return {"collect_s": time.time() - t0, "cpu_s": node_proc.cpu_s() - cpu0 + before_collect,
                "daemon_cpu_s": daemon() - daemon0, "read": dht + pushed, "read_pushed": pushed,
                "push_cpu_s": push_cpu, "got": got}


if __name__ == "__main__":
    import logging
    import os

    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    asyncio.run(node_proc.main(BenchNode))
