"""An attacker node process: a real swarm member that can also store hostile records straight into the DHT.

    python tests/chaos/attacker_proc.py '{"swarm_id": "t", "swarm_secret": "s", ...}' SEED

Speaks the JSON-lines protocol of `tests/swarm/node_proc.py` (publish, collect, stats, ...) plus
``inject``: build the records of one attack class (`tests.chaos.hostile`) and store them, bypassing
every honest check on this side; ``flood`` / ``flood_stop``: send records far past the quota in the
background (`tests.chaos.flood`, T6) and report what went out. Only JSON goes to stdout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.chaos.flood import Flood, FloodPlan  # noqa: E402
from tests.chaos.hostile import AttackContext, build  # noqa: E402
from tests.swarm import node_proc  # noqa: E402


class Attacker(node_proc.Node):
    flooding: Flood | None = None

    async def flood(self, tag: str = "f", **plan: Any) -> dict[str, Any]:
        """Start sending `FloodPlan(**plan)` records in the background; answers at once."""
        if self.flooding is not None:
            await self.flooding.stop()
        self.flooding = Flood(self.t, FloodPlan(**plan), tag=tag)
        self.flooding.start()
        return {"started": time.time(), "peers": len(self.t.peers())}

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


    async def push_inject(self, kind: str, victim: str = "", tag: str = "x", ttl_s: float = 6.0) -> dict[str, Any]:
        """Push every record of attack class `kind` straight to every peer, over the flood-publishing rpc."""
        from hivemind.proto import dht_pb2

        from swarm.transports.push import _libp2p_id

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
