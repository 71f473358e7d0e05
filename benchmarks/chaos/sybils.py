"""T7 and T7p, outsiders and sybils: censoring, stale and forging sybils at 1:1 to 4:1, sybils that turn
all at once, and an outsider without the swarm secret; every accepted batch is audited.

    row = t7_sybils(swarm, 60)        # sybil processes in the spare namespace
    row = t7p_outsider(swarm, 30)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.chaos.swarm import CONFIG, SYBIL_SCRIPT, Proc, Swarm, rss_mb
from benchmarks.chaos.workload import Phase, delivery, rejections, request_all, run_phase
from swarm.procs import group_members


SYBILS_PER_PROCESS = 8


class SybilCrews:
    """Sybil processes of up to 8 DHT nodes each (`tests/chaos/sybil_proc.py`), all in the spare namespace."""

    def __init__(self, swarm: Swarm) -> None:
        self.swarm, self.procs = swarm, []

    def grow(self, total: int, mode: str) -> None:
        """Start processes in `mode` until at least `total` sybils run."""
        while SYBILS_PER_PROCESS * len(self.procs) < total:
            k = min(SYBILS_PER_PROCESS, total - SYBILS_PER_PROCESS * len(self.procs))
            cfg = {"initial_peers": self.swarm.initial_peers(), "host": self.swarm.net.ip(self.swarm.n + 2), "mode": mode,
                   **{key: CONFIG[key] for key in ("swarm_id", "window_seconds", "num_shards")}}
            p = Proc(cfg, str(k), self.swarm.net.prefix(self.swarm.n + 2), self.swarm.log_dir / f"sybils{len(self.procs)}.log",
                     script=SYBIL_SCRIPT)
            self.procs.append(p)
            if p.wait_ready(120).get("event") != "ready":
                raise RuntimeError(f"sybils failed to start: {p.info}")

    def turn(self, mode: str) -> float:
        """Every sybil of every process switches to `mode`; returns the spread (s) between the first and last switch."""
        for p in self.procs:
            p.send("turn", mode=mode)
        times = [p.read(30)["t"] for p in self.procs]
        return max(times) - min(times)

    def counts(self) -> Counter:
        return sum((Counter(p.request("stats", timeout=30)["counts"]) for p in self.procs if p.proc.poll() is None), Counter())

    def exited(self) -> list[str]:
        return [f"sybils{i} exited {p.proc.returncode}" for i, p in enumerate(self.procs) if p.proc.poll() is not None]

    def cpu_s(self) -> float:
        """CPU seconds used so far by the sybil processes and their p2pd daemons."""
        total = 0
        for p in self.procs:
            for pid in group_members(p.pgid):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.stop(timeout=5)


@dataclass
class AcceptAudit:
    """Every batch an honest collect returns, checked against what was published: none may be forged or stale."""

    published: dict[tuple[str, str], str] = field(default_factory=dict)
    """(sender, batch id) -> digest of the batch its publisher sealed."""
    seen: set[tuple[int, str, str]] = field(default_factory=set)
    bad: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def check(self, receiver: int, batch: dict, collect_t0: float) -> None:
        key = (batch["sender"], batch["batch_id"])
        age = int(collect_t0 // CONFIG["window_seconds"]) - batch["window"]
        if key not in self.published:
            verdict = "stale (an earlier phase's)" if not batch["batch_id"].startswith(("T7", "forged")) else "forged (never published)"
        elif batch["digest"] != self.published[key]:
            verdict = "forged (content differs)"
        elif (receiver, *key) in self.seen:
            verdict = "stale (accepted twice)"
        elif age > max(CONFIG["windows_per_collect"], CONFIG["record_ttl_windows"]):
            verdict = f"stale ({age} windows old)"
        else:
            verdict = ""
        self.seen.add((receiver, *key))
        if verdict:
            self.bad[verdict.split()[0]] += 1
            if len(self.examples) < 5:
                self.examples.append(f"h{receiver} {verdict}: {key[1]} from {key[0][:12]}")


def audited_phase(swarm: Swarm, phase: Phase, seconds: float, audit: AcceptAudit, on_cycle=None, drain_s: float = 5.0) -> Phase:
    """`run_phase` whose collects also go through `audit` (cycle keeps only the first accept, not the content)."""

    def one_cycle(k: int, publish: bool) -> None:
        live = swarm.live()
        if publish:
            for i, r in request_all([(s, {"batch_id": f"{phase.name}-{s.index}-{k}", "size": 2000}) for s in live], "publish").items():
                key = (swarm.slots[i].node.peer_id, f"{phase.name}-{i}-{k}")
                phase.published[key] = {**r, "slot": i}
                audit.published[key] = r.get("digest")
        for i, r in request_all([(s, {"max": 256}) for s in live], "collect").items():
            for b in r["batches"]:
                audit.check(i, b, r["t0"])
                phase.accepted.setdefault((i, b["sender"], b["batch_id"]), b.get("accepted_at") or r["t1"])
        phase.rss.extend(rss_mb(s.node) for s in live)

    t_end, k = time.time() + seconds, 0
    while time.time() < t_end:
        t0 = time.time()
        if on_cycle is not None:
            on_cycle(k)
        one_cycle(k, publish=True)
        k += 1
        time.sleep(max(0.0, 1.0 - (time.time() - t0)))
    t_end = time.time() + drain_s
    while time.time() < t_end:
        one_cycle(k, publish=False)
        time.sleep(0.5)
    phase.notes["end"] = time.time()
    return phase


def published_between(phase: Phase, start: float, end: float) -> Phase:
    """The records of `phase` published in [start, end), with all of its accepts."""
    return Phase(phase.name, {k: v for k, v in phase.published.items() if start <= v["t0"] < end}, phase.accepted, [], phase.notes)


def recovery_s(buckets: list[tuple[float, float | None]], target: float = 0.99) -> float | None:
    """Start of the first bucket from which every bucket delivers >= target; None if the last one does not."""
    at = None
    for start, ratio in buckets:
        if ratio is not None and ratio >= target:
            at = start if at is None else at
        else:
            at = None
    return at


def t7_sybils(swarm: Swarm, seconds: float, behave_s: float = 120.0, after_s: float = 120.0, bucket_s: float = 10.0) -> dict:
    """Hostile sybils in processes of 8 (`tests/chaos/sybil_proc.py`): censoring at 1:1, 2:1 and 4:1 per honest
    node, stale and forging at 2:1, then 4:1 sybils that behave for `behave_s` and all turn to censoring at
    once (delivery per `bucket_s` after the turn, and the time until it is back to >= 99%). Every accepted
    batch is checked (`AcceptAudit`): none may be forged or stale; rejections are counted by reason."""
    out: dict[str, Any] = {}
    crews, audit, rej_total = SybilCrews(swarm), AcceptAudit(), Counter()

    def measured(name: str, phase: Phase, seconds: float, on_cycle=None) -> dict:
        before, bad_before = rejections(swarm), Counter(audit.bad)
        audited_phase(swarm, phase, seconds, audit, on_cycle=on_cycle)
        after = rejections(swarm)
        rej = sum((after[i] - before.get(i, Counter()) for i in after), Counter())
        rej_total.update(rej)
        bad = audit.bad - bad_before
        out[name] = row = {**delivery(swarm, phase), "forged_accepted": bad["forged"], "stale_accepted": bad["stale"],
                           "rejections": dict(rej)}
        print(f"  T7 {name:<16} delivery {row['delivery_ratio']}  forged/stale accepted {bad['forged']}/{bad['stale']}  "
              f"rejections {dict(rej) or '-'}", flush=True)
        return row

    try:
        for mode, ratio in [("censor", 1), ("censor", 2), ("stale", 2), ("forge", 2), ("censor", 4)]:
            crews.grow(ratio * swarm.n, mode)  # the plan only grows: every running sybil takes part
            crews.turn(mode)
            time.sleep(3)  # let lookups pull new sybils into the honest routing tables
            measured(f"{mode} {ratio}:1", Phase(f"T7{mode}{ratio}"), seconds)

        crews.turn("honest")
        turned, turn_at = Phase("T7turn"), {}
        cpu0, t0 = crews.cpu_s(), time.time()

        def turn_when_due(k: int) -> None:
            if not turn_at and time.time() >= t0 + behave_s:
                turn_at["t"] = time.time()
                turn_at["spread_s"] = crews.turn("censor")

        measured("turn 4:1 whole", turned, behave_s + after_s, on_cycle=turn_when_due)
        cpu = crews.cpu_s() - cpu0
        wall = turned.notes["end"] - t0
        t_turn = turn_at["t"]
        out["turn before"] = delivery(swarm, published_between(turned, 0, t_turn))
        buckets = []
        for j in range(int(after_s // bucket_s)):
            start = j * bucket_s
            d = out[f"turn +{start:.0f}-{start + bucket_s:.0f}s"] = delivery(swarm, published_between(turned, t_turn + start, t_turn + start + bucket_s))
            buckets.append((start, d["delivery_ratio"]))
        back = recovery_s(buckets)
        out["turn"] = (f"honest for {behave_s:.0f} s, then all {len(crews.procs) * SYBILS_PER_PROCESS} censor at once "
                       f"(within {turn_at['spread_s']:.2f} s); back to >= 99% {'never' if back is None else f'{back:.0f} s'} after the turn (target <= 60 s)")
        lies = crews.counts()
        out["sybil_lies"] = ", ".join(f"{k} {v}" for k, v in sorted(lies.items()) if not k.startswith(("gets_", "turned_")))
        out["sybil_cpu"] = f"{cpu:.1f} CPU-s in {wall:.0f} s ({100 * cpu / wall:.0f}% of a core) for {len(crews.procs) * SYBILS_PER_PROCESS} sybils + their p2pd"
        out["sybil_exits"] = ", ".join(crews.exited()) or "none"
    finally:
        crews.stop()
    out["forged_or_stale_accepted"] = f"{audit.bad['forged']} forged, {audit.bad['stale']} stale" + (f" ({'; '.join(audit.examples)})" if audit.examples else "")
    out["rejections"] = ", ".join(f"{k} {v}" for k, v in rej_total.most_common()) or "none"
    out["push"] = "on: records also pushed to admitted peers" if swarm.config.get("push_to_peers", True) else "off: DHT only"
    return out


def t7p_outsider(swarm: Swarm, seconds: float) -> dict:
    config = {k: v for k, v in swarm.config.items() if k not in ("swarm_secret", "allowed_peers")}
    outsider = swarm.spawn_extra(swarm.n + 1, config, "chaos-outsider")
    before = rejections(swarm)
    phase = Phase("T7p")
    sent = 0

    def publish(k: int) -> None:
        nonlocal sent
        outsider.request("publish", batch_id=f"outsider-{k}", size=500)
        sent += 1

    run_phase(swarm, phase, seconds, drain_s=3.0, on_cycle=publish)
    after = rejections(swarm)
    read = outsider.request("collect", max=256)["batches"]
    accepted = sum(1 for (_, sender, _) in phase.accepted if sender == outsider.peer_id)
    rej = sum((after[i] - before.get(i, Counter()) for i in after), Counter())
    outsider.stop()
    return {"outsider_published": sent, "accepted_by_honest": accepted, "rejections": dict(rej),
            "honest_batches_outsider_could_read": len(read), "honest": delivery(swarm, phase)}
