"""T5 at rate: every hostile class injected at the same records per second, all at once, for a while.

The single-shot T5 (`benchmarks.chaos.hostile.t5_hostile`) counts each class under its reason at each
receiver. This is the sustained version the issue asks for: an insider attacker stores the records of
every class (`tests.chaos.hostile.build`, a fresh tag per build so each record is new) into the DHT at
``rate`` records per second per class, in the background, while the honest nodes run their workload.
Classes that build several records at once (``other_subkey`` 4, ``resend_100`` 100) are built less
often, so every class sends the same records per second.

    stream = HostileStream(transport, HostilePlan(kinds=STREAM_CLASSES, rate=10, victim=peer_id))
    stream.start()
    ...
    report = await stream.stop()   # records built and stored per class, rate achieved, skipped while behind

Pacing and back-pressure are `tests.chaos.flood.Flood`'s: due records beyond ``max_inflight`` stores
are skipped and counted, never queued. Records of one tick go out in one ``store_many`` call.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.chaos.flood import Flood, FloodPlan
from tests.chaos.hostile import CLASSES, AttackContext, Injection, build

if TYPE_CHECKING:
    from swarm.transports.hivemind.transport import HivemindTransport

STREAM_CLASSES = tuple(k for k in CLASSES if k not in ("oversize_direct", "resend_in_quota"))
"""Every class but two: ``oversize_direct`` (16 MiB values) never leaves the attacker, hivemind refuses a
message that size on the sending side; ``resend_in_quota`` at rate is a stream of valid records, which the
per-peer quota caps (T6 measures that)."""


@dataclass(frozen=True)
class HostilePlan:
    kinds: tuple[str, ...] = STREAM_CLASSES
    rate: float = 10.0
    """Records per second per class."""
    victim: str = ""
    """An honest peer id, for ``other_subkey``."""
    ttl_s: float = 6.0
    max_inflight: int = 32
    tick_s: float = 0.1


class HostileStream(Flood):
    """Stores ``plan.rate`` records per second of each class in ``plan.kinds`` until `stop`."""

    def __init__(self, transport: "HivemindTransport", plan: HostilePlan, tag: str = "s") -> None:
        super().__init__(transport, FloodPlan(rate=plan.rate * len(plan.kinds), ttl_s=plan.ttl_s,
                                              max_inflight=plan.max_inflight, tick_s=plan.tick_s), tag)
        self.hostile = plan
        self._pending: dict[str, deque[Injection]] = {k: deque() for k in plan.kinds}
        self._builds: Counter[str] = Counter()
        self._turn = 0

    async def _run(self) -> None:  # no peers to learn: every record goes to the DHT only
        loop = asyncio.get_running_loop()
        t0, due_done = loop.time(), 0
        while True:
            due = int((loop.time() - t0) * self.plan.rate) - due_done
            if due > 0:
                due_done += due
                self._send_due(due, self.t.window())
            await asyncio.sleep(self.plan.tick_s)

    def _send_due(self, due: int, window: int) -> None:
        if len(self._inflight) >= self.plan.max_inflight:
            self.counts.behind += due
            return
        records = [self._next(window) for _ in range(due)]
        self._spawn(self._store_kinds(records))

    def _next(self, window: int) -> tuple[str, Injection]:
        """The next record, taking the classes in turn (so each sends the same records per second)."""
        kind = self.hostile.kinds[self._turn % len(self.hostile.kinds)]
        self._turn += 1
        pending = self._pending[kind]
        if not pending:
            n = self._builds[kind] = self._builds[kind] + 1
            cfg = self.t.config
            ctx = AttackContext(self.t.identity, cfg.swarm_id, self.t.secret, window, cfg.num_shards,
                                self.hostile.victim, tag=f"{self.tag}{n}")
            pending.extend(build(kind, ctx))
        self.counts.built[kind] += 1
        return kind, pending.popleft()

    async def _store_kinds(self, records: list[tuple[str, Injection]]) -> None:
        self.counts.store_calls += 1
        try:
            async with asyncio.timeout(self.t.config.request_timeout_s):
                ok = await self.t.node.store_many([i.key for _, i in records], [i.value for _, i in records],
                                                  self.t.store.time() + self.plan.ttl_s, subkeys=[i.subkey for _, i in records])
            self.counts.stored += sum(bool(v) for v in ok.values())
        except Exception:  # refused, malformed or timed out: an outcome, not a crash
            pass

    async def stop(self) -> dict[str, Any]:
        """Stop; reply with the records built per class, stores acknowledged, and the rate achieved."""
        report = await super().stop()
        report.pop("targets", None)
        return {**report, "builds": dict(self._builds), "rate_per_class": self.hostile.rate,
                "rate_achieved_per_class": round(report["rate_achieved"] / len(self.hostile.kinds), 1)}
