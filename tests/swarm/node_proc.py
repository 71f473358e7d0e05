"""One swarm node as a process, driven by JSON lines on stdin (tests and benchmarks).

    python tests/swarm/node_proc.py '{"swarm_id": "t", "initial_peers": [...]}' SEED

Prints ``{"event": "ready", "maddrs": [...], "peer_id": ...}`` (or ``{"event": "error", ...}`` and
exits 1), then answers one JSON line per command: publish, collect, raw_get, forge, stats, push_targets,
direct, clock, quit (``collect`` with ``rescore`` also runs hostile batches through a learning node's intake).
Only JSON goes to stdout; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import resource
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from protocol import Completion, Identity, RolloutBatch, RolloutGroup, TaskRef, seal  # noqa: E402
from protocol.envelope import open_envelope  # noqa: E402
from protocol.keys import record_key, shard_of  # noqa: E402
from swarm.transports.config import TransportConfig  # noqa: E402
from swarm.transports.hivemind.transport import HivemindTransport, TransportStartupError  # noqa: E402

_CHARS = 30_000


def make_batch(ident: Identity, swarm_id: str, window: int, batch_id: str, size: int) -> RolloutBatch:
    """A batch whose completion texts total ``size`` characters of pseudo-random hex."""
    texts, seed = [], hashlib.sha256(f"{ident.peer_id}/{batch_id}".encode()).digest()
    while size > 0:
        n = min(size, _CHARS)
        block = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(n // 64 + 1))
        texts.append(block.hex()[:n])
        seed, size = hashlib.sha256(seed).digest(), size - n
    groups = tuple(
        RolloutGroup(TaskRef("chain_sum", {}, 1, g), "q", tuple(Completion(t, 1, 0.0) for t in texts[g * 64 : g * 64 + 64]))
        for g in range((len(texts) + 63) // 64)
    )
    return RolloutBatch(swarm_id, ident.peer_id, "tiny", time.time(), window, batch_id, groups)


def digest(batch: RolloutBatch) -> str:
    return hashlib.sha256("".join(c.text for g in batch.groups for c in g.completions).encode()).hexdigest()


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def bounds(t: HivemindTransport) -> dict[str, int]:
    """Sizes of the receiving side's queues and tables (T6: each must stay bounded under a flood)."""
    inbox, pusher, proto = t.inbox, t.pusher, t.node.protocol if t.node is not None else None
    return {"inbox_queued": len(inbox.queue), "inbox_max": inbox.queue.maxlen or 0, "inbox_dropped_full": inbox.dropped_full,
            "seen": sum(map(len, inbox._seen.values())), "logged": len(t.rejection_log._logged),
            "processed": t.receiver.processed(), "peers": len(t.receiver.announcements),
            "push_windows": len(pusher._received) if pusher else 0, "push_tasks": len(pusher._tasks) if pusher else 0,
            "dht_storage": len(proto.storage) if proto else 0, "dht_cache": len(proto.cache) if proto else 0,
            "dht_storage_bytes": proto.storage.held_bytes() if proto else 0}


class Node:
    def __init__(self, transport: HivemindTransport) -> None:
        self.t = transport

    async def publish(self, batch_id: str, size: int = 100) -> dict[str, Any]:
        batch = make_batch(self.t.identity, self.t.config.swarm_id, self.t.window(), batch_id, size)
        t0 = time.time()
        receipt = await self.t.publish(batch)
        return {"t0": t0, "t1": time.time(), "stored": receipt.stored, "parts": receipt.parts,
                "bytes": receipt.bytes_sent, "digest": digest(batch), "rollouts": batch.num_rollouts}

    async def collect(self, max: int = 64, rescore: bool = False) -> dict[str, Any]:
        """Collect; with ``rescore``, also pass the batches whose id starts with "hostile-" through a
        learning node's intake (`node.intake.rescore_external`, default tasks and rewards) and report it."""
        t0 = time.time()
        got = await self.t.collect(max)
        reply = {"t0": t0, "t1": time.time(), "batches": [
            {"sender": b.sender, "batch_id": b.batch_id, "window": b.window, "digest": digest(b), "rollouts": b.num_rollouts,
             "accepted_at": self.t.inbox.accepted_at(b.sender, b.batch_id, b.window)}
            for b in got]}
        if rescore:
            reply["intake"] = self._intake([b for b in got if b.batch_id.startswith("hostile-")])
        return reply

    def _intake(self, batches: list[RolloutBatch]) -> dict[str, Any]:
        from node.config import RewardsConfig, TasksConfig
        from node.intake import rescore_external
        from node.rewards import build_reward_fn
        from node.tasks import TaskSource

        if not hasattr(self, "_tasks"):
            self._tasks, self._reward_fn = TaskSource(TasksConfig()), build_reward_fn(RewardsConfig())
        out = {}
        for b in batches:
            kept, counts = rescore_external([b], self._tasks, self._reward_fn)
            out[b.batch_id] = {"counts": dict(counts), "kept": len(kept), "claimed_max": max(c.sender_reward for g in b.groups for c in g.completions),
                               "rescored_max": max((r for g in kept for r in g.rewards), default=None)}
        return out

    async def raw_get(self, peer: str) -> dict[str, Any]:
        cfg = self.t.config
        w = self.t.window()
        found = {}
        for win in range(w - cfg.record_ttl_windows - 2, w + 1):
            key = record_key(cfg.swarm_id, win, shard_of(peer, cfg.num_shards))
            found[str(win)] = sorted((await self.t.store.get(key)).keys())
        return {"found": found}

    async def raw_values(self, peer: str) -> dict[str, Any]:
        """Every value under `peer`'s shard keys of the live windows, as hex: what any DHT reader gets."""
        cfg, w = self.t.config, self.t.window()
        keys = [record_key(cfg.swarm_id, win, shard_of(peer, cfg.num_shards)) for win in range(w - cfg.record_ttl_windows, w + 1)]
        found = [await self.t.store.get(key) for key in keys]
        return {"values": [value.hex() for records in found for value, _ in records.values() if isinstance(value, bytes)]}

    async def forge(self, kind: str, victim: str = "") -> dict[str, Any]:
        """Store a forged record straight into the DHT, bypassing our own checks."""
        cfg, me = self.t.config, self.t.identity
        batch = make_batch(me, cfg.swarm_id, self.t.window(), f"forged-{kind}", 100)
        secret = self.t.secret
        subkey, value = me.peer_id, bytearray(seal(batch, me, secret))
        if kind == "bad_signature":  # one bit inside the signature (found by value: the map's field order may change)
            value[bytes(value).index(open_envelope(bytes(value)).signature) + 8] ^= 1
        elif kind == "subkey_mismatch":
            subkey = victim
        elif kind == "wrong_secret":
            value = bytearray(seal(batch, me, b"not-the-secret"))
        key = record_key(cfg.swarm_id, batch.window, shard_of(subkey, cfg.num_shards))
        ok = await self.t.store.store(key, subkey, bytes(value), self.t.store.time() + 30)
        return {"stored": ok}

    async def stats(self) -> dict[str, Any]:
        s = self.t.stats
        return {"published": s.published, "accepted": s.accepted, "bytes_sent": s.bytes_sent,
                "bytes_received": s.bytes_received, "rejections": dict(s.rejections), "cpu_s": cpu_s(),
                "peers": [p.peer_id for p in self.t.peers()], "bounds": bounds(self.t),
                "pushed": self.t.pusher.pushed if self.t.pusher else 0,
                "push_failures": self.t.pusher.push_failures if self.t.pusher else 0,
                "reach": {"holds": self.t.reach.holds, "releases": self.t.reach.releases, "probes": self.t.reach.probes,
                          "cleared": self.t.reach.cleared,
                          "held": [str(p) for p in self.t.reach.held_peers()]}}

    async def push_targets(self, draws: int = 1) -> dict[str, Any]:
        """libp2p ids the next pushes would go to (`Pusher.targets`), ``draws`` independent draws."""
        p = self.t.pusher
        return {"draws": [[pid.to_base58() for pid in p.targets()] for _ in range(draws)] if p else []}

    async def direct(self, serve: str = "") -> dict[str, Any]:
        """Parts fetched from their publisher (`swarm.transports.hivemind.direct_parts`) and part keys read from the DHT
        since the first call; ``serve``: "none" stops serving own parts, "forged" serves them with a bit flipped."""
        t, d = self.t, self.t.direct_parts
        if not hasattr(self, "part_gets"):
            self.part_gets, get = 0, t.store.get

            async def counted_get(key: str, latest: bool = True) -> Any:
                self.part_gets += "/part/" in key
                return await get(key, latest)

            t.store.get = counted_get
        if serve == "none":
            d.cache.max_bytes = 0
        elif serve == "forged":
            real = d.cache.get
            d.cache.get = lambda digest: (lambda p: p and bytes([p[0] ^ 1]) + p[1:])(real(digest))
        return {"fetched": d.fetched, "fetched_bytes": d.fetched_bytes, "forged": d.forged, "missed": d.missed,
                "served": d.served, "cached": len(d.cache), "part_gets": self.part_gets}

    async def clock(self) -> dict[str, Any]:
        """The swarm clock's state: skew (own wall clock minus swarm time), corrected, outlier."""
        c = self.t.swarm_clock
        return {"skew": c.skew(), "corrected": c.corrected, "outlier": c.outlier, "peers_used": c.peers_used,
                "window": self.t.window()}


async def main(node_cls: type[Node] = Node) -> None:
    config = TransportConfig(**json.loads(sys.argv[1]))
    ident = Identity.from_seed(sys.argv[2].encode())
    try:
        transport = await HivemindTransport.create(config, ident)
    except TransportStartupError as exc:
        print(json.dumps({"event": "error", "reason": exc.reason, "message": str(exc)}), flush=True)
        sys.exit(1)
    print(json.dumps({"event": "ready", "maddrs": transport.visible_maddrs, "peer_id": ident.peer_id,
                      "pid": os.getpid()}), flush=True)
    node, loop = node_cls(transport), asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = json.loads(line)
        name = cmd.pop("cmd")
        if name == "quit":
            break
        reply = await getattr(node, name)(**cmd)
        print(json.dumps(reply), flush=True)
    await transport.stop()


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    asyncio.run(main())
