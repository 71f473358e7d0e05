"""The chaos workload and what it measures: every live node publishes and collects about once a second.

    phase = run_phase(swarm, Phase("T0"), seconds=15)
    row = delivery(swarm, phase)     # delivery ratio, publish-to-accept latency p50/p99/max, RSS peak

Delivery counts acknowledged records (publish said stored) to receivers alive throughout; latency runs
from the publish call to the moment the receiver's inbox accepted the record (pushed or read from the
DHT), not to the collect that returned it.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.chaos.swarm import Slot, Swarm, rss_mb


@dataclass
class Phase:
    name: str
    published: dict[tuple[str, str], dict] = field(default_factory=dict)
    """(sender, batch id) -> publish reply plus the sender slot."""
    accepted: dict[tuple[int, str, str], float] = field(default_factory=dict)
    """(receiver slot, sender, batch id) -> time the collect returned it."""
    rss: list[float] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def request_all(nodes: list[tuple[Slot, dict]], cmd: str, timeout: float = 60) -> dict[int, dict]:
    """Send `cmd` to every node first, then read every reply (so the nodes work in parallel)."""
    sent = []
    for slot, kwargs in nodes:
        with contextlib.suppress(OSError, ValueError):
            slot.node.send(cmd, **kwargs)
            sent.append(slot)
    replies = {}
    for slot in sent:
        with contextlib.suppress(RuntimeError, queue.Empty, ValueError):
            replies[slot.index] = slot.node.read(timeout)
    return replies


def cycle(swarm: Swarm, phase: Phase, k: int, publish: bool = True, skip: set[int] = frozenset(), **collect: Any) -> dict[int, dict]:
    """One workload cycle: every live node publishes a batch (if `publish`), then every node collects
    (`collect`: extra arguments of node_proc's collect). Returns the collect replies by node."""
    live = [s for s in swarm.live() if s.index not in skip]
    if publish:
        for i, r in request_all([(s, {"batch_id": f"{phase.name}-{s.index}-{k}", "size": 2000}) for s in live], "publish").items():
            pid = swarm.slots[i].node.peer_id
            phase.published[(pid, f"{phase.name}-{i}-{k}")] = {**r, "slot": i}
    replies = request_all([(s, {"max": 256, **collect}) for s in live], "collect")
    for i, r in replies.items():
        for b in r["batches"]:  # publish-to-accept: when the receiver's inbox accepted it (push or DHT read)
            phase.accepted.setdefault((i, b["sender"], b["batch_id"]), b.get("accepted_at") or r["t1"])
    phase.rss.extend(rss_mb(s.node) for s in live)
    return replies


def run_phase(swarm: Swarm, phase: Phase, seconds: float, drain_s: float = 5.0, on_cycle=None, skip: set[int] = frozenset()) -> Phase:
    t_end, k = time.time() + seconds, 0
    while time.time() < t_end:
        t0 = time.time()
        if on_cycle is not None:
            on_cycle(k)
        cycle(swarm, phase, k, skip=skip)
        k += 1
        time.sleep(max(0.0, 1.0 - (time.time() - t0)))
    t_end = time.time() + drain_s
    while time.time() < t_end:
        cycle(swarm, phase, k, publish=False, skip=skip)
        time.sleep(0.5)
    phase.notes["end"] = time.time()
    return phase


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def delivery(swarm: Swarm, phase: Phase, eligible=None) -> dict[str, Any]:
    """Acknowledged records vs. receivers alive (never killed) from the publish until the end of the phase."""
    expected = delivered = 0
    lat: list[float] = []
    lost: list[str] = []
    for (sender, bid), pub in phase.published.items():
        if not pub.get("stored"):
            continue
        for slot in swarm.slots:
            if slot.index == pub["slot"] or slot.started_at > pub["t0"] - 1:
                continue
            if any(pub["t0"] - 1 <= t <= phase.notes["end"] for t in slot.killed_at):
                continue
            if eligible is not None and not eligible(pub["slot"], slot.index):
                continue
            expected += 1
            at = phase.accepted.get((slot.index, sender, bid))
            if at is None:
                lost.append(f"{bid}->h{slot.index}")
                continue
            delivered += 1
            lat.append(at - pub["t0"])
    acked = sum(bool(p.get("stored")) for p in phase.published.values())
    return {"published": len(phase.published), "acked": acked, "expected_deliveries": expected, "delivered": delivered,
            "delivery_ratio": round(delivered / expected, 4) if expected else None,
            "latency_p50_s": round(pct(lat, 0.5), 2), "latency_p99_s": round(pct(lat, 0.99), 2),
            "latency_max_s": round(max(lat), 2) if lat else None, "missed": lost[:10],
            "missed_by_receiver": dict(sorted(Counter(m.rsplit("->", 1)[1] for m in lost).items())),
            "rss_peak_mb": round(max(phase.rss), 1) if phase.rss else None}


def rejections(swarm: Swarm) -> dict[int, Counter]:
    return {i: Counter(r["rejections"]) for i, r in request_all([(s, {}) for s in swarm.live()], "stats").items()}
