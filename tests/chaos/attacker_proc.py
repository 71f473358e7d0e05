"""An attacker node process: a real swarm member that can also store hostile records straight into the DHT.

    python tests/chaos/attacker_proc.py '{"swarm_id": "t", "swarm_secret": "s", ...}' SEED

Speaks the JSON-lines protocol of `tests/swarm/node_proc.py` (publish, collect, stats, ...) plus
``inject``: build the records of one attack class (`tests.chaos.hostile`) and store them, bypassing
every honest check on this side; ``store_parts``: content-addressed parts under keys of their own;
``flood`` / ``flood_stop``: send records far past the quota in the
background (`tests.chaos.flood`, T6) and report what went out; ``stream``: every hostile class at a
rate, in the background (`tests.chaos.hostile_stream`, T5 at rate), stopped by ``flood_stop``; ``hostile_text``:
records with fresh ids, ESC codes, newlines and 10 kB ids, stored and pushed (`tests.chaos.hostile_text`).
Only JSON goes to stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.chaos.flood import Flood, FloodPlan  # noqa: E402
from tests.chaos.hostile import AttackContext, build  # noqa: E402
from tests.chaos.hostile_stream import HostilePlan, HostileStream  # noqa: E402
from tests.swarm import node_proc  # noqa: E402


class Attacker(node_proc.Node):
    flooding: Flood | None = None
    """The background sender running, a `Flood` or a `HostileStream`."""

    async def flood(self, tag: str = "f", **plan: Any) -> dict[str, Any]:
        """Start sending `FloodPlan(**plan)` records in the background; answers at once."""
        if self.flooding is not None:
            await self.flooding.stop()
        self.flooding = Flood(self.t, FloodPlan(**plan), tag=tag)
        self.flooding.start()
        return {"started": time.time(), "peers": len(self.t.peers())}

    async def stream(self, tag: str = "s", **plan: Any) -> dict[str, Any]:
        """Start storing every hostile class at `HostilePlan(**plan).rate` records/s each; answers at once."""
        if self.flooding is not None:
            await self.flooding.stop()
        if "kinds" in plan:
            plan["kinds"] = tuple(plan["kinds"])
        self.flooding = HostileStream(self.t, HostilePlan(**plan), tag=tag)
        self.flooding.start()
        return {"started": time.time(), "kinds": list(self.flooding.hostile.kinds)}

    async def flood_stop(self) -> dict[str, Any]:
        """Stop the flood; reply with what it built, stored and pushed, and the rate achieved."""
        flood, self.flooding = self.flooding, None
        return await flood.stop() if flood is not None else {}

    async def inject(self, kind: str, victim: str = "", tag: str = "x", ttl_s: float = 6.0) -> dict[str, Any]:
        """Store every record of attack class `kind`; reply with how many were built and stored."""
        cfg = self.t.config
        ctx = AttackContext(self.t.identity, cfg.swarm_id, self.t.secret, self.t.window(), cfg.num_shards, victim, tag=tag)
        injections = build(kind, ctx)
        t0 = time.time()
        try:
            async with asyncio.timeout(10):
                ok = await self.t.node.store_many(
                    [i.key for i in injections], [i.value for i in injections], self.t.store.time() + ttl_s,
                    subkeys=[i.subkey for i in injections],
                )
            stored = sum(bool(v) for v in ok.values())
        except Exception as exc:  # a refused or too-big store is an outcome to report, not a crash
            logging.getLogger(__name__).debug("inject %s failed", kind, exc_info=True)
            stored, t0 = -1, t0
            return {"kind": kind, "injected": len(injections), "stored": stored, "error": type(exc).__name__, "t0": t0}
        return {"kind": kind, "injected": len(injections), "stored": stored, "t0": t0, "window": ctx.window}


    async def publish_forged(self, kind: str, tag: str = "x") -> dict[str, Any]:
        """Publish a forged-claims batch (`tests.chaos.forged_claims`) the honest way: it is a valid record."""
        from node.config import TasksConfig
        from node.tasks import TaskSource
        from tests.chaos.forged_claims import forged_batch

        if not hasattr(self, "_tasks"):
            self._tasks = TaskSource(TasksConfig())
        batch = forged_batch(kind, self.t.identity, self.t.config.swarm_id, self.t.window(), tag, self._tasks)
        receipt = await self.t.publish(batch)
        return {"kind": kind, "batch_id": batch.batch_id, "stored": receipt.stored, "groups": len(batch.groups)}

    async def store_parts(self, count: int, size: int, ttl_s: float = 6.0) -> dict[str, Any]:
        """Store ``count`` content-addressed parts of ``size`` random bytes, each under a key of its own. A
        part needs no signature or secret, only bytes that hash to its subkey: a replica's byte budget is
        what stops them (`swarm.transports.hivemind.storage_budget`)."""
        blobs = [os.urandom(size) for _ in range(count)]
        subkeys = [hashlib.sha256(blob).hexdigest() for blob in blobs]
        async with asyncio.timeout(20):
            ok = await self.t.node.store_many([f"parts-{s[:16]}" for s in subkeys], blobs, self.t.store.time() + ttl_s,
                                              subkeys=subkeys)
        return {"stored": sum(bool(v) for v in ok.values()), "bytes": count * size}

    async def hostile_text(self, count: int = 400, tag: str = "t", ttl_s: float = 6.0) -> dict[str, Any]:
        """Send `tests.chaos.hostile_text` records (fresh ids, ESC codes, newlines, 10 kB ids): each stored into the
        DHT (but the push-only kind) and pushed to every admitted peer; reply with how many went out."""
        from hivemind.proto import dht_pb2

        from swarm.transports.hivemind.multiaddr import libp2p_id
        from swarm.transports.hivemind.push import PUSH_PROTOCOL
        from tests.chaos.hostile_text import hostile_text_records

        cfg = self.t.config
        records = hostile_text_records(cfg.swarm_id, self.t.window(), cfg.num_shards, count, tag)
        targets = [pid for a in self.t.peers() if (pid := libp2p_id(a.addresses)) is not None]
        expiration = self.t.store.time() + ttl_s
        stored = pushed = 0
        for start in range(0, len(records), 50):
            chunk = [r for r in records[start:start + 50] if not r.push_only]
            try:
                async with asyncio.timeout(10):
                    ok = await self.t.node.store_many([r.key for r in chunk], [r.value for r in chunk], expiration,
                                                      subkeys=[r.subkey for r in chunk])
                stored += sum(bool(v) for v in ok.values())
            except Exception:  # refused or timed out: an outcome, not a crash
                logging.getLogger(__name__).debug("hostile_text store failed", exc_info=True)
            for r in records[start:start + 50]:
                request = dht_pb2.StoreRequest(keys=[r.key.encode()], subkeys=[r.subkey.encode()], values=[r.value],
                                               expiration_time=[expiration], in_cache=[False])
                for pid in targets:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(5):
                            await self.t.node.p2p.call_protobuf_handler(pid, PUSH_PROTOCOL, request, dht_pb2.StoreResponse)
                        pushed += 1
        return {"records": len(records), "stored_calls_ok": stored, "pushed": pushed, "targets": len(targets)}

    async def push_inject(self, kind: str, victim: str = "", tag: str = "x", ttl_s: float = 6.0) -> dict[str, Any]:
        """Push every record of attack class `kind` straight to every peer, over the flood-publishing rpc."""
        from hivemind.proto import dht_pb2

        from swarm.transports.hivemind.multiaddr import libp2p_id as _libp2p_id

        cfg = self.t.config
        ctx = AttackContext(self.t.identity, cfg.swarm_id, self.t.secret, self.t.window(), cfg.num_shards, victim, tag=tag)
        targets = [pid for a in self.t.peers() if (pid := _libp2p_id(a.addresses)) is not None]
        injections = build(kind, ctx)
        for inj in injections:
            request = dht_pb2.StoreRequest(keys=[inj.key.encode()], subkeys=[inj.subkey.encode()], values=[inj.value],
                                           expiration_time=[self.t.store.time() + ttl_s], in_cache=[False])
            await self.t.pusher.call_push(targets, request)
        return {"kind": kind, "injected": len(injections), "targets": len(targets), "pushed": self.t.pusher.pushed}


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    asyncio.run(node_proc.main(Attacker))
