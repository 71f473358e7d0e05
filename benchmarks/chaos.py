"""Chaos and abuse benchmark: 8 honest transport processes under churn, partitions, bandwidth limits,
clock skew, hostile records, floods and outsiders, with the figures users feel.

    sudo python benchmarks/chaos.py --quick          # T0, T1 3 min, T5, T7p, T8 1 min/target: < 12 minutes on 2 cores
    sudo python benchmarks/chaos.py                  # every phase at full length (63 minutes measured)

Honest nodes are real transport processes (`tests/swarm/node_proc.py`: the hivemind DHT transport
driven by JSON commands; no model, so the gossip is what is measured), each in its own network
namespace joined by a veth pair to a bridge in one more namespace (10.77.0.0/24, no default route);
without root or `ip netns` they fall back to loopback, and the table says so. Every namespace is
deleted in ``finally`` and checked gone. Each phase publishes a batch per live node per cycle (~1 s)
and collects on every node, then drains for a few seconds. Per phase: delivery ratio of acknowledged
records (publish said stored) to nodes alive throughout, publish-to-accept latency p50/p99/max,
crashes of honest processes, RSS (node + its p2pd) at start and peak; per hostile class: injected,
rejected (per honest node, min-max) and accepted. Latency runs from the publish call to the moment the
receiver's inbox accepted the record (pushed or read from the DHT), not to the collect that returned it.
Writes benchmarks/results/chaos.json.

Phases: T0 baseline, T1 SIGKILL/restart churn, T2 partition (blackhole routes): split 4/4 and heal, three times
(once in --quick), then isolate one node and heal, T3 every node
behind a userspace fault proxy (`benchmarks/chaos_proxy.py`: 100±20 ms, then 1 Mbit/s; loss SKIPPED) and
then one node behind `tc tbf` at 256 kbit/s, T4 clock skew (SAPO_CLOCK_OFFSET +262 s and -262 s, beyond
the swarm clock's tolerance; +45 s and a +-30 s swing within it), T5 every hostile class from an insider
attacker (once each, counted per class; forged answers and TaskRefs through a learning node's intake; then
every class at 10 records/s for 60 s during the honest workload, `tests/chaos/hostile_stream.py`), T6 1-4 admitted keys flooding valid, maximum-size and junk records (memory, CPU, bounds), T7 hostile
sybils (censoring at 1:1, 2:1, 4:1; stale and forging at 2:1; 4:1 that behave, then all turn to censoring;
every accepted batch audited; ``--no-push`` for the DHT-only figure), T7p an outsider without the secret, T8 the
fuzz targets (`benchmarks/fuzz.py`), T9 SIGKILLs while a node's checkpoint and metrics are written (100; 30 in
--quick; tests/chaos/checkpoint_kills.py). ``--phases T2,T9`` runs only those, ``--out`` names the JSON. Rows that cannot run print
``SKIPPED: <reason>``. T1 with real learning nodes (tiny models, reward curves): `benchmarks/chaos_learning.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from protocol import Identity  # noqa: E402
from swarm.procs import group_members  # noqa: E402
from swarm.transports.config import TransportConfig  # noqa: E402
from tests.chaos.hostile import CLASSES  # noqa: E402
from tests.swarm.helpers import BASE_CONFIG, NODE_SCRIPT, NodeProcess  # noqa: E402

ATTACKER_SCRIPT = REPO / "tests" / "chaos" / "attacker_proc.py"
SYBIL_SCRIPT = REPO / "tests" / "chaos" / "sybil_proc.py"
T6_MAX_KEYS = 4
T6_PLOT = REPO / "benchmarks" / "results" / "chaos_t6_memory.png"
RESULTS = REPO / "benchmarks" / "results" / "chaos.json"
ALL_PHASES = "T0,T1,T2,T3,T4,T5,T6,T7,T7p,T8,T9"
QUICK_PHASES = "T0,T1,T5,T7p,T8"
"""--quick: T0 short, T1 3 min, T5, T7p, T8 1 min per target (under 12 minutes)."""
NS_PREFIX = "sapo-chaos"
SUBNET = "10.77.0"
CONFIG = dict(swarm_id="chaos-bench", window_seconds=2.0, record_ttl_windows=3, windows_per_collect=2, num_shards=2,
              shards_per_collect=2, swarm_secret="bench-secret", startup_timeout_s=60.0, request_timeout_s=3.0)


# ---------------------------------------------------------------- network namespaces


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=30)


class Network:
    """n+2 slots: each in its own namespace on a bridge, or all on loopback when namespaces are unavailable."""

    def __init__(self, slots: int) -> None:
        self.slots, self.names, self.fallback = slots, [], ""
        self.bridge = f"{NS_PREFIX}-br"

    def setup(self) -> None:
        try:
            sh("ip", "netns", "add", self.bridge)
            self.names.append(self.bridge)
            sh("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", self.bridge, "link", "set", "br0", "up")
            for i in range(self.slots):
                ns = f"{NS_PREFIX}-{i}"
                sh("ip", "netns", "add", ns)
                self.names.append(ns)
                sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p{i}", "netns", self.bridge)
                sh("ip", "-n", self.bridge, "link", "set", f"p{i}", "master", "br0")
                sh("ip", "-n", self.bridge, "link", "set", f"p{i}", "up")
                sh("ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
                sh("ip", "-n", ns, "link", "set", "eth0", "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            self.teardown()
            self.fallback = f"loopback (network namespaces unavailable: {detail.strip()[:120]})"

    def ip(self, i: int) -> str:
        return f"{SUBNET}.{i + 1}" if not self.fallback else "127.0.0.1"

    def prefix(self, i: int) -> list[str]:
        return [] if self.fallback else ["ip", "netns", "exec", f"{NS_PREFIX}-{i}"]

    def ns_cmd(self, i: int, *args: str, check: bool = True) -> None:
        if not self.fallback:
            sh("ip", "netns", "exec", f"{NS_PREFIX}-{i}", *args, check=check)

    def teardown(self) -> list[str]:
        for ns in reversed(self.names):
            sh("ip", "netns", "del", ns, check=False)
        self.names = []
        return self.left_over()

    @staticmethod
    def left_over() -> list[str]:
        out = sh("ip", "netns", "list", check=False).stdout
        links = sh("ip", "-o", "link", check=False).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(NS_PREFIX)] + \
               [line for line in links.splitlines() if NS_PREFIX in line or "p0@" in line]


# ---------------------------------------------------------------- processes


class Proc(NodeProcess):
    """A node process started inside a namespace (``ip netns exec`` execs it: same pid, own session)."""

    def __init__(self, config: dict, seed: str, prefix: list[str], log: Path, script: Path = NODE_SCRIPT,
                 env: dict | None = None) -> None:
        self.seed = seed
        self.stderr = open(log, "ab")
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, str(script), json.dumps({**BASE_CONFIG, **config}), seed],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=REPO, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.pgid = self.proc.pid
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.info: dict[str, Any] = {}


def rss_mb(node: NodeProcess, only: str | None = None) -> float:
    """Resident memory of the node's process group (node + p2pd), or of its processes named `only`."""
    total = 0
    for pid in group_members(node.pgid):
        with contextlib.suppress(OSError, ValueError, IndexError, StopIteration):
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            if only is not None and status[0].split()[-1] != only:
                continue
            total += int(next(x for x in status if x.startswith("VmRSS")).split()[1])
    return total / 1024


@dataclass
class Slot:
    index: int
    seed: str
    node: NodeProcess | None = None
    killed_at: list[float] = field(default_factory=list)
    started_at: float = 0.0

    @property
    def alive(self) -> bool:
        return self.node is not None and self.node.proc.poll() is None


class Swarm:
    def __init__(self, net: Network, n: int, log_dir: Path) -> None:
        self.net, self.n, self.log_dir = net, n, log_dir
        tag = f"{os.getpid()}-{int(time.time()) % 10**6}"
        self.slots = [Slot(i, f"chaos-{tag}-h{i}") for i in range(n)]
        self.attacker_seed = f"chaos-{tag}-attacker"
        allowed = [Identity.from_seed(s.seed.encode()).peer_id for s in self.slots]
        allowed.append(Identity.from_seed(self.attacker_seed.encode()).peer_id)
        self.flood_seeds = [self.attacker_seed] + [f"chaos-{tag}-flood{j}" for j in range(1, T6_MAX_KEYS)]
        """T6: admitted attacker keys (the T5 attacker's and more), each flooding from its own process."""
        allowed += [Identity.from_seed(s.encode()).peer_id for s in self.flood_seeds[1:]]
        self.config = {**CONFIG, "allowed_peers": allowed}
        self.crashes: list[str] = []
        self.extra: list[NodeProcess] = []

    def node_config(self, i: int, initial: list[str]) -> dict:
        return {**self.config, "host_maddrs": [f"/ip4/{self.net.ip(i)}/tcp/0"], "initial_peers": initial}

    def initial_peers(self, exclude: int = -1) -> list[str]:
        return [m for s in self.slots if s.alive and s.index != exclude for m in s.node.info.get("maddrs", [])][:6]

    def start(self, i: int, env: dict | None = None) -> None:
        slot = self.slots[i]
        node = Proc(self.node_config(i, self.initial_peers(exclude=i)), slot.seed, self.net.prefix(i),
                    self.log_dir / f"h{i}.log", env=env)
        slot.node = node
        info = node.wait_ready(90)
        if info.get("event") != "ready":
            raise RuntimeError(f"node {i} failed to start: {info}")
        slot.started_at = time.time()

    def start_all(self, stagger: int = 3) -> None:
        self.start(0)
        for first in range(1, self.n, stagger):
            group = list(range(first, min(self.n, first + stagger)))
            for i in group:
                slot = self.slots[i]
                slot.node = Proc(self.node_config(i, self.initial_peers(exclude=i)), slot.seed, self.net.prefix(i),
                                 self.log_dir / f"h{i}.log")
            for i in group:
                info = self.slots[i].node.wait_ready(90)
                if info.get("event") != "ready":
                    raise RuntimeError(f"node {i} failed to start: {info}")
                self.slots[i].started_at = time.time()

    def kill(self, i: int) -> None:
        slot = self.slots[i]
        slot.node.kill()
        slot.killed_at.append(time.time())
        slot.node.stop(timeout=1)

    def spawn_extra(self, slot_index: int, config: dict, seed: str, script: Path = NODE_SCRIPT) -> NodeProcess:
        node = Proc({**config, "host_maddrs": [f"/ip4/{self.net.ip(slot_index)}/tcp/0"], "initial_peers": self.initial_peers()},
                    seed, self.net.prefix(slot_index), self.log_dir / f"{seed}.log", script=script)
        self.extra.append(node)
        info = node.wait_ready(90)
        if info.get("event") != "ready":
            raise RuntimeError(f"{seed} failed to start: {info}")
        return node

    def live(self) -> list[Slot]:
        for s in self.slots:
            if s.node is not None and s.node.proc.poll() is not None and (not s.killed_at or s.killed_at[-1] < s.started_at):
                self.crashes.append(f"h{s.index} exited {s.node.proc.returncode}")
                s.killed_at.append(time.time())
                s.node = None
        return [s for s in self.slots if s.alive]

    def stop(self) -> None:
        for node in [s.node for s in self.slots if s.node is not None] + self.extra:
            with contextlib.suppress(Exception):
                node.stop(timeout=5)


# ---------------------------------------------------------------- workload and measurement


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


# ---------------------------------------------------------------- phases


def t1_churn(swarm: Swarm, seconds: float, rng: random.Random) -> dict:
    phase = Phase("T1")
    pending: list[tuple[float, int]] = []

    def churn(k: int) -> None:
        now = time.time()
        for when, i in list(pending):
            if now >= when:
                pending.remove((when, i))
                swarm.start(i)
        if k % 12 == 5 and not pending:
            i = rng.randrange(1, swarm.n)
            swarm.kill(i)
            pending.append((now + rng.uniform(2.5, 5.0), i))  # back after at least one window

    run_phase(swarm, phase, seconds, on_cycle=churn)
    for _, i in pending:
        swarm.start(i)
    kills = sum(len(s.killed_at) for s in swarm.slots)
    return {**delivery(swarm, phase), "kills": kills}


def t2_partition(swarm: Swarm, seconds: float, cycles: int = 3, isolate_s: float | None = None) -> dict:
    """`cycles` times: split 4/4 with blackhole routes for `seconds`, heal, run `seconds`; then isolate one node
    for `isolate_s` (default 2 x seconds) and heal. Per split: delivery within each side; after each heal:
    delivery of new records, and of the split's last two windows across the sides within one window."""
    if swarm.net.fallback:
        return {"skipped": "blackhole routes need network namespaces"}
    half = swarm.n // 2
    splits = [t2_split(swarm, seconds, lambda i: i < half, f"T2split{c}") for c in range(cycles)]
    lone = swarm.n - 1
    isolated = t2_split(swarm, 2 * seconds if isolate_s is None else isolate_s, lambda i: i == lone, "T2isolate")
    out: dict[str, Any] = t2_summary(splits + [isolated])
    named = [(f"split{c + 1}", row) for c, row in enumerate(splits)] + [(f"isolate h{lone}", isolated)]
    for label, row in named:  # flat, so that `show` prints one line per measure
        out[f"{label} same side"] = row["during_split_same_side"]
        out[f"{label} across, last 2 w"] = row["across_sides_last_two_windows"]
        out[f"{label} after heal"] = row["after_heal"]
    out["split_s"], out["isolate_s"], out["cycles"] = seconds, isolated["seconds"], cycles
    return out


def t2_split(swarm: Swarm, seconds: float, side, name: str) -> dict:
    """One partition into side(i) True / False, then a healed phase as long; see t2_partition."""
    def routes(op: str) -> None:
        for a in range(swarm.n):
            for b in range(swarm.n):
                if side(a) != side(b):
                    swarm.net.ns_cmd(a, "ip", "route", op, "blackhole", f"{swarm.net.ip(b)}/32", check=False)

    routes("add")
    try:
        split = run_phase(swarm, Phase(name), seconds, drain_s=0.0)  # heal right after the last publish
    finally:
        routes("del")
    heal_t = time.time()
    healed = run_phase(swarm, Phase(name.replace("split", "heal").replace("isolate", "unisolate")), seconds)
    # A record of the split arriving after the heal is in healed.accepted: judge the split on both.
    seen = Phase(name, split.published, {**healed.accepted, **split.accepted}, split.rss, split.notes)
    window = CONFIG["window_seconds"]
    last_two = {key: pub for key, pub in split.published.items() if pub["t0"] >= heal_t - 2 * window}
    recent = Phase(name, last_two, seen.accepted, notes={"end": heal_t + window})
    within_window = delivery(swarm, recent, lambda a, b: side(a) != side(b))
    within_window["delivered_in_one_window"] = sum(
        1 for (i, sender, bid), t in seen.accepted.items()
        if t <= heal_t + window and (sender, bid) in last_two and side(i) != side(last_two[(sender, bid)]["slot"]))
    within_window["delivery_ratio_in_one_window"] = (round(within_window["delivered_in_one_window"] / within_window["expected_deliveries"], 4)
                                                     if within_window["expected_deliveries"] else None)
    return {"seconds": seconds,
            "during_split_same_side": delivery(swarm, seen, lambda a, b: side(a) == side(b)),
            "across_sides_last_two_windows": within_window,
            "after_heal": delivery(swarm, healed)}


def t2_summary(rows: list[dict]) -> dict:
    """The worst case over every split of T2: the figures its targets are judged on."""
    def worst(key: str, field_: str = "delivery_ratio") -> float | None:
        values = [r[key][field_] for r in rows if r[key].get(field_) is not None]
        return min(values) if values else None
    return {"worst_same_side": worst("during_split_same_side"), "worst_after_heal": worst("after_heal"),
            "worst_across_in_one_window": worst("across_sides_last_two_windows", "delivery_ratio_in_one_window"),
            "worst_across_by_end_of_heal": worst("across_sides_last_two_windows")}


PROXY_SCRIPT = REPO / "benchmarks" / "chaos_proxy.py"
NODE_PORT, PROXY_PORT = 47100, 47200
"""T3: node i listens on 127.0.0.1:NODE_PORT+i inside its namespace (no other namespace can reach it) and
announces its proxy, which listens on the slot's address at PROXY_PORT+i: every byte between nodes crosses one."""
T3_FAULTS = {"latency 100±20ms": {"latency_ms": 100, "jitter_ms": 20, "rate_kbit": 0},
             "rate 1Mbit/s": {"latency_ms": 0, "jitter_ms": 0, "rate_kbit": 1000}}
T3_LOSS = "SKIPPED: netem is absent and a TCP proxy cannot drop packets (the kernel retransmits below it)"


class FaultProxy:
    """`benchmarks/chaos_proxy.py` in slot i's namespace, forwarding the slot's address to its node on loopback."""

    def __init__(self, net: Network, i: int, seed: int, log: Path) -> None:
        self.name, self.stderr = f"h{i}", open(log, "ab")
        self.proc = subprocess.Popen(
            [*net.prefix(i), sys.executable, str(PROXY_SCRIPT), "--listen", f"{net.ip(i)}:{PROXY_PORT + i}",
             "--target", f"127.0.0.1:{NODE_PORT + i}", "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=REPO, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [*map(self.lines.put, self.proc.stdout), self.lines.put("")], daemon=True).start()

    def read(self, timeout: float = 10) -> dict:
        line = self.lines.get(timeout=timeout)
        if not line:
            raise RuntimeError(f"proxy of {self.name} exited with {self.proc.poll()}")
        return json.loads(line)

    def command(self, **params: Any) -> dict:
        self.proc.stdin.write(json.dumps(params) + "\n")
        self.proc.stdin.flush()
        reply = self.read()
        if reply.get("event") != "applied":
            raise RuntimeError(f"proxy of {self.name} refused {params}: {reply}")
        return reply

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write('{"quit": true}\n')
            self.proc.stdin.flush()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.stderr.close()


def restart_nodes(swarm: Swarm, overrides=lambda i: {}, stagger: int = 3) -> None:
    """Restart every honest node (same identity), `stagger` at a time, with `overrides(i)` on its config."""
    for first in range(0, swarm.n, stagger):
        group = list(range(first, min(swarm.n, first + stagger)))
        for i in group:
            if swarm.slots[i].node is not None:
                swarm.kill(i)
        for i in group:
            slot = swarm.slots[i]
            slot.node = Proc({**swarm.node_config(i, swarm.initial_peers(exclude=i)), **overrides(i)}, slot.seed,
                             swarm.net.prefix(i), swarm.log_dir / f"h{i}.log")
        for i in group:
            info = swarm.slots[i].node.wait_ready(90)
            if info.get("event") != "ready":
                raise RuntimeError(f"node {i} failed to restart: {info}")
            swarm.slots[i].started_at = time.time()


def behind_proxy(swarm: Swarm, i: int) -> dict:
    return {"host_maddrs": [f"/ip4/127.0.0.1/tcp/{NODE_PORT + i}"], "announce_maddrs": [f"/ip4/{swarm.net.ip(i)}/tcp/{PROXY_PORT + i}"]}


def proxy_traffic(before: list[dict], after: list[dict]) -> str:
    """Bytes through the proxies during a sub-phase (a proxy only sees the connections dialled to its node)."""
    new = sum(a["connections"] - b["connections"] for b, a in zip(before, after))
    kb = [(a["bytes_to_target"] + a["bytes_to_client"] - b["bytes_to_target"] - b["bytes_to_client"]) / 1e3 for b, a in zip(before, after)]
    return (f"{sum(kb) / 1e3:.1f} MB through {len(kb)} proxies (per proxy {min(kb):.0f}-{max(kb):.0f} kB); "
            f"conns open {sum(a['open'] for a in after)}, {new} new, {sum(a['connections'] for a in after)} since start")


def t3_verdict(d: dict, baseline_p99: float | None) -> str:
    p99_cap = baseline_p99 + 1.6 if baseline_p99 is not None else None
    ok = d["delivery_ratio"] == 1.0 and d["latency_max_s"] is not None and d["latency_max_s"] <= 15 and \
        (p99_cap is None or d["latency_p99_s"] <= p99_cap)
    return ("PASS" if ok else "FAIL") + ("" if p99_cap is not None else " (no T0 baseline: p99 unchecked)")


def t3_bandwidth(swarm: Swarm, seconds: float, baseline: dict | None = None) -> dict:
    """Every honest node behind its own fault proxy: 100±20 ms each way, then 1 Mbit/s (each proxy, each
    direction, shared by the connections dialled to its node), loss SKIPPED; then one node behind `tc tbf`."""
    baseline_p99 = (baseline or {}).get("latency_p99_s")
    out: dict[str, Any] = {"target": "deliv 1.0, p99 <= " + (f"{baseline_p99 + 1.6:.2f} s (T0 p99 {baseline_p99} + 1.6)"
                                                            if baseline_p99 is not None else "T0 p99 + 1.6 s") + ", max <= 15 s"}
    proxies: list[FaultProxy] = []
    verdicts = {}
    try:
        proxies = [FaultProxy(swarm.net, i, 3000 + i, swarm.log_dir / f"proxy-h{i}.log") for i in range(swarm.n)]
        ready = [p.read(30) for p in proxies]
        out["proxy_seeds"] = f"{ready[0]['seed']}..{ready[-1]['seed']}"
        try:
            restart_nodes(swarm, lambda i: behind_proxy(swarm, i))
            announced = {s.index: s.node.info.get("maddrs", []) for s in swarm.slots}
            if not all(m and all(f"/tcp/{PROXY_PORT + i}/" in a for a in m) for i, m in announced.items()):
                raise RuntimeError(f"nodes do not announce their proxies: {announced}")
            out["announced"] = f"h0 {announced[0][0]} -> node on 127.0.0.1:{NODE_PORT} in its namespace"
            run_phase(swarm, Phase("T3warm"), 4.0, drain_s=0.0)  # routing tables and announcements over the proxies
            for name, params in T3_FAULTS.items():
                before = [p.command(**params)["stats"] for p in proxies]
                print(f"T3 {name}: {seconds:.0f} s", flush=True)
                row = delivery(swarm, run_phase(swarm, Phase(f"T3-{name.split()[0]}"), seconds))
                after = [p.command()["stats"] for p in proxies]
                verdicts[name] = t3_verdict(row, baseline_p99)
                out[name] = {**row, "proxied": proxy_traffic(before, after), "verdict": verdicts[name]}
            out["loss 1%"] = T3_LOSS
        finally:
            for p in proxies:
                with contextlib.suppress(Exception):
                    p.command(latency_ms=0, jitter_ms=0, rate_kbit=0)
            restart_nodes(swarm)  # back on their own addresses, no proxy
    finally:
        for p in proxies:
            p.stop()
        out["proxies_stopped"] = all(p.proc.poll() is not None for p in proxies)
    out["verdicts"] = ", ".join(f"{k}: {v}" for k, v in verdicts.items())
    for name in T3_FAULTS:
        d = out[name]
        print(f"  T3 {name:<18} deliv {d['delivery_ratio']} p50 {d['latency_p50_s']} p99 {d['latency_p99_s']} "
              f"max {d['latency_max_s']}  {d['verdict']}  [{d['proxied']}]")
    print(f"  T3 loss 1%             {T3_LOSS}\n  T3 target: {out['target']}", flush=True)
    run_phase(swarm, Phase("T3rewarm"), 4.0, drain_s=0.0)  # the restored nodes find each other's own addresses again
    out.update(t3_one_slow_node(swarm, seconds))
    return out


def t3_one_slow_node(swarm: Swarm, seconds: float) -> dict:
    """The kernel shaper on one node: `tc tbf` 256 kbit/s on the last node's veth (no proxies)."""
    if swarm.net.fallback:
        return {"tbf": "SKIPPED: tc tbf needs a veth in a namespace"}
    slow = swarm.n - 1
    swarm.net.ns_cmd(slow, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "256kbit", "burst", "16kbit", "latency", "400ms")
    try:
        phase = run_phase(swarm, Phase("T3tbf"), seconds)
    finally:
        swarm.net.ns_cmd(slow, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
    return {f"tbf 256k h{slow} all": delivery(swarm, phase), f"tbf 256k h{slow} from": delivery(swarm, phase, lambda a, b: a == slow)}


T4_SKEWS: tuple[tuple[str, float, dict[str, str]], ...] = (
    ("+262 s", 262.0, {"SAPO_CLOCK_OFFSET": "262"}),
    ("-262 s", 262.0, {"SAPO_CLOCK_OFFSET": "-262"}),
    ("+-30 s every 5 s", 30.0, {"SAPO_CLOCK_SWING": "30:5"}),
    ("+45 s", 45.0, {"SAPO_CLOCK_OFFSET": "45"}),
)
"""(label, largest |skew| in seconds, environment) of the nodes T4 restarts with a skewed clock."""


def t4_skew(swarm: Swarm, seconds: float, skews: tuple[tuple[str, float, dict[str, str]], ...] = T4_SKEWS) -> dict:
    """The last len(skews) nodes restart with skewed clocks; the swarm clock corrects those within
    max_clock_skew_s (100% delivery from and to them expected) and every record of those beyond it is refused."""
    tolerance = float(swarm.config.get("max_clock_skew_s", 60.0))
    skewed = {swarm.n - 1 - k: skew for k, skew in enumerate(skews)}
    for i, (_, _, env) in skewed.items():
        swarm.kill(i)
        swarm.start(i, env=env)
    beyond = {i for i, (_, worst, _) in skewed.items() if worst > tolerance}
    before = rejections(swarm)
    clocks = request_all([(s, {}) for s in swarm.live()], "clock")
    phase = run_phase(swarm, Phase("T4"), seconds)
    after = rejections(swarm)
    ok = lambda a, b: a not in beyond and b not in beyond  # noqa: E731
    rej = {i: after[i] - before.get(i, Counter()) for i in after if i not in beyond}
    total = sum(rej.values(), Counter())
    outlier_ids = {sender for (sender, _), pub in phase.published.items() if pub["slot"] in beyond}
    published = sum(pub["slot"] in beyond for pub in phase.published.values())
    acked = sum(pub["slot"] in beyond and bool(pub.get("stored")) for pub in phase.published.values())
    accepted = sum(sender in outlier_ids for (_, sender, _) in phase.accepted)
    window_rej = {r: total.get(r, 0) for r in ("stale_window", "future_window", "wrong_window")}
    row = {
        "skews": {f"h{i}": label for i, (label, _, _) in skewed.items()}, "tolerance_s": tolerance,
        "window_s": CONFIG["window_seconds"],
        "clock_skew_estimates": {f"h{i}": (round(c["skew"], 2) + 0.0, "outlier" if c["outlier"] else "corrected" if c["corrected"] else "own")
                                 for i, c in sorted(clocks.items()) if "skew" in c},
        "within_tolerance": delivery(swarm, phase, ok),
        "from_skewed_within": delivery(swarm, phase, lambda a, b: ok(a, b) and a in skewed),
        "to_skewed_within": delivery(swarm, phase, lambda a, b: ok(a, b) and b in skewed),
        "beyond_tolerance": f"published {published} (stored {acked}), accepted by anyone {accepted}, "
                            f"rejected at nodes within tolerance {dict(window_rej)} (other reasons {dict(total - Counter(window_rej)) or 'none'})",
        "beyond_detail": {"published": published, "stored": acked, "accepted_by_anyone": accepted, "rejections_within": dict(total),
                          "per_node_window_rejections": {f"h{i}": sum(c.get(r, 0) for r in window_rej) for i, c in sorted(rej.items())}},
    }
    for i in skewed:  # back to true time for the following phases (after `delivery`, which skips restarted receivers)
        swarm.kill(i)
        swarm.start(i)
    return row


def t5_hostile(swarm: Swarm, attacker: NodeProcess, extra_kinds: tuple[str, ...] = ()) -> dict:
    rows = {}
    victim = swarm.slots[0].node.peer_id
    phase = Phase("T5")
    for k, kind in enumerate([*CLASSES, *extra_kinds]):
        reason, accept = CLASSES.get(kind, ("over_quota", CONFIG.get("max_records_per_peer_per_window", 4)))
        before = rejections(swarm)
        inj = attacker.request("inject", timeout=60, kind=kind, victim=victim, tag=f"b{k}", ttl_s=8.0)
        for j in range(3):
            cycle(swarm, phase, k * 10 + j)
            time.sleep(0.4)
        after = rejections(swarm)
        hostile = Counter(i for (i, _, bid) in phase.accepted if bid.startswith(f"hostile-{kind}") and bid.endswith(f"-b{k}"))
        per_node = {i: after[i] - before.get(i, Counter()) for i in after}
        counted = [per_node[i][reason] for i in per_node] if reason else [0]
        other = sum((Counter({r: c for r, c in d.items() if r != reason}) for d in per_node.values()), Counter())
        rows[kind] = {"reason": reason or "(store fails: never reaches a receiver)", "injected": inj["injected"],
                      "stored_replicas": inj.get("stored"), "rejected_min": min(counted), "rejected_max": max(counted),
                      "accepted_max": max(hostile.values(), default=0), "accepted_allowed": accept,
                      "other_reasons": dict(other), "error": inj.get("error")}
    phase.notes["end"] = time.time()
    return {"classes": rows, "honest_during_T5": delivery(swarm, phase)}


def t5_forged_claims(swarm: Swarm, attacker: NodeProcess) -> dict:
    """The attacker publishes one batch of each forged-claims class (`tests/chaos/forged_claims.py`): valid
    records whose content lies. Every honest node collects them through a learning node's intake (re-score
    with its own verifier, rebuild every TaskRef): per class, nodes that received it, what their intake
    counted, and the highest reward a receiver gives the forged completions (claimed 1.0; must be 0)."""
    from tests.chaos.forged_claims import INTAKE_CLASSES

    rows, phase = {}, Phase("T5claims")
    for k, kind in enumerate(INTAKE_CLASSES):
        pub = attacker.request("publish_forged", timeout=60, kind=kind, tag=f"c{k}")
        seen: dict[int, dict] = {}
        for j in range(4):
            for i, r in cycle(swarm, phase, 100 * k + j, rescore=True).items():
                seen.update({i: v for bid, v in r.get("intake", {}).items() if bid == pub["batch_id"]})
            time.sleep(0.4)
        counts = [v["counts"] for v in seen.values()]
        rescored = [v["rescored_max"] for v in seen.values() if v["rescored_max"] is not None]
        expected = INTAKE_CLASSES[kind]
        rows[kind] = {"published": pub.get("stored"), "groups": pub.get("groups"), "receivers": len(seen),
                      "counted_as_expected": sum(c == expected for c in counts), "expected_counts": expected,
                      "counts_seen": [dict(c) for c in {json.dumps(c, sort_keys=True): c for c in counts}.values()],
                      "claimed_reward": max((v["claimed_max"] for v in seen.values()), default=None),
                      "rescored_reward_max": max(rescored, default=None),
                      "verdict": "PASS" if seen and all(c == expected for c in counts) and max(rescored, default=0.0) == 0.0 else "FAIL"}
        print(f"  T5 {kind}: received by {len(seen)} honest nodes, intake counted {rows[kind]['counts_seen']}, "
              f"claimed reward {rows[kind]['claimed_reward']}, re-scored max {rows[kind]['rescored_reward_max']}: {rows[kind]['verdict']}", flush=True)
    return rows


T5_RATE = 10.0
"""Records per second per hostile class in the sustained T5 (`tests/chaos/hostile_stream.py`)."""


def t5_stream(swarm: Swarm, attacker: NodeProcess, seconds: float, rate: float = T5_RATE) -> dict:
    """Every hostile class at `rate` records/s, all at once, for `seconds`, during the honest workload (T0 load).

    Each record is stored into the DHT, where the honest replicas check it (and count what they refuse);
    what they keep is read and refused by the receivers. Per reason: records injected under it (summed over
    its classes), refusals counted by the honest nodes (total, and per node min-max), and how many nodes
    counted it. A record kept by the replicas sits under the attacker's slot subkey until the attacker's
    next record overwrites it: a receiver refuses each one it reads, and never sees those overwritten
    between two of its reads (nothing to refuse, nothing accepted)."""
    victim = swarm.slots[0].node.peer_id
    live = swarm.live()
    before, cpu0 = rejections(swarm), {s.index: group_cpu_s(s.node.pgid) for s in live}
    t0 = time.time()
    started = attacker.request("stream", timeout=30, rate=rate, victim=victim, tag="r")
    phase = run_phase(swarm, Phase("T5rate"), seconds, drain_s=0.0)
    sent = attacker.request("flood_stop", timeout=60)
    t1 = time.time()
    cpu1 = {s.index: group_cpu_s(s.node.pgid) for s in swarm.live()}
    k = 10**6
    while time.time() < t1 + 5.0:  # the last honest records, and the last hostile ones still in the DHT
        cycle(swarm, phase, k, publish=False)
        k += 1
        time.sleep(0.5)
    phase.notes["end"] = time.time()
    after = rejections(swarm)
    honest = delivery(swarm, phase)
    per_node = {i: after[i] - before.get(i, Counter()) for i in after}
    injected = Counter()
    for kind, n in sent.get("built", {}).items():
        injected[CLASSES[kind][0]] += n
    reasons = {}
    for reason in sorted(set(injected) | {r for c in per_node.values() for r in c}):
        counts = [per_node[i][reason] for i in per_node]
        reasons[reason] = {"injected": injected[reason], "rejected_total": sum(counts), "rejected_min": min(counts, default=0),
                           "rejected_max": max(counts, default=0), "nodes_counting": sum(c > 0 for c in counts)}
    hostile_accepted = sum(1 for (_, _, bid) in phase.accepted if bid.startswith("hostile-"))
    wall = t1 - t0
    verdicts = {
        "0 hostile accepted": hostile_accepted == 0,
        "every injected reason counted": all(reasons[r]["rejected_total"] > 0 for r in injected),
        "honest delivery 100%": honest["delivery_ratio"] == 1.0,
        "no honest crash": not swarm.crashes,
    }
    row = {
        **honest,
        "attack": f"{len(started.get('kinds', []))} classes at {rate:.0f} records/s each for {seconds:.0f} s from one insider key; "
                  f"achieved {sent.get('rate_achieved_per_class')} records/s/class ({sent.get('sent')} records, "
                  f"skipped while behind {sent.get('behind')}, stores acknowledged {sent.get('stored')})",
        "built": sent.get("built"), "hostile_accepted": hostile_accepted, "reasons": reasons,
        "cpu_cores_max": round(max(((cpu1[i] - cpu0[i]) / wall for i in cpu1 if i in cpu0), default=0.0), 2),
        "verdicts": ", ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in verdicts.items()),
    }
    print(f"  T5 at rate: {row['attack']}; honest CPU max {row['cpu_cores_max']} cores/node", flush=True)
    print("\n".join(f"  {line}" for line in reason_table(reasons)))
    print(f"  hostile accepted {hostile_accepted}; honest delivery {honest['delivery_ratio']} (p99 {honest['latency_p99_s']} s)\n"
          f"  {row['verdicts']}", flush=True)
    return row


def reason_table(reasons: dict[str, dict]) -> list[str]:
    """T5 at rate, per reason: records injected, refusals over all honest nodes, per node min-max, nodes counting."""
    lines = [f"{'reason':<18}{'injected':>9}{'refused (all nodes)':>21}{'per node':>12}{'nodes':>7}"]
    for reason, r in reasons.items():
        per_node = f"{r['rejected_min']}-{r['rejected_max']}"
        lines.append(f"{reason:<18}{r['injected']:>9}{r['rejected_total']:>21}{per_node:>12}{r['nodes_counting']:>7}")
    return lines


T6_RATE = 100.0
"""Records per second per attacker key: 100x the honest rate (one batch per node per cycle of ~1 s)."""
T6_SAMPLE_S = 5.0
T6_REASONS = ("over_quota", "too_large", "malformed", "schema", "duplicate")


def group_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by a process group (a node and its p2pd)."""
    total = 0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _mean_rss(samples: list[tuple[float, dict[int, float]]], i: int, start: float, end: float) -> float:
    """Mean of node i's RSS over the samples taken in [start, end] s (big records in flight make single samples noisy)."""
    xs = [s[1][i] for s in samples if start <= s[0] <= end and i in s[1]]
    return statistics.fmean(xs) if xs else float("nan")


def t6_flood(swarm: Swarm, seconds: float, keys: int, baseline: dict[int, float], rate: float = T6_RATE) -> dict:
    """`keys` admitted attacker keys, each in its own process (`tests/chaos/flood.py`), send `rate` records/s
    (small valid, max-size valid, junk: stored under their own slot subkeys and pushed to every honest peer)
    while the honest nodes run their workload. Per honest node: RSS (start, peak, growth over the last half,
    peak over `baseline`, which the first call fills with the RSS before its flood), CPU cores used, rejections
    by reason, pushes the attackers got answered, and the sizes of its queues and tables (node_proc ``stats``)."""
    attackers = [swarm.spawn_extra(swarm.n, swarm.config, seed, script=ATTACKER_SCRIPT) for seed in swarm.flood_seeds[:keys]]
    attacker_ids = {a.peer_id for a in attackers}
    try:
        for a in attackers:
            a.request("collect", timeout=30, max=0)  # announce, and read the honest announcements
        run_phase(swarm, Phase(f"T6warm{keys}"), 4.0, drain_s=0.0)
        live = swarm.live()
        rss0 = {s.index: rss_mb(s.node) for s in live}
        baseline.update({i: v for i, v in rss0.items() if i not in baseline})
        before, cpu0 = rejections(swarm), {s.index: group_cpu_s(s.node.pgid) for s in live}
        att_cpu0, t0 = sum(group_cpu_s(a.pgid) for a in attackers), time.time()
        started = [a.request("flood", timeout=30, rate=rate, tag=f"k{keys}a{j}", seed=j) for j, a in enumerate(attackers)]
        samples: list[tuple[float, dict[int, float]]] = []
        daemon_rss: list[dict[int, float]] = []  # the p2pd share of each sample
        table_max: Counter = Counter()

        def sample(k: int) -> None:
            if samples and time.time() - t0 - samples[-1][0] < T6_SAMPLE_S:
                return
            samples.append((time.time() - t0, {s.index: rss_mb(s.node) for s in swarm.live()}))
            daemon_rss.append({s.index: rss_mb(s.node, only="p2pd") for s in swarm.live()})
            for r in request_all([(s, {}) for s in swarm.live()], "stats").values():
                for name, size in r.get("bounds", {}).items():
                    table_max[name] = max(table_max[name], size)

        phase = run_phase(swarm, Phase(f"T6k{keys}"), seconds, drain_s=0.0, on_cycle=sample)
        sample(-1)
        floods = [a.request("flood_stop", timeout=60) for a in attackers]
        t1 = time.time()
        cpu1, att_cpu1 = {s.index: group_cpu_s(s.node.pgid) for s in swarm.live()}, sum(group_cpu_s(a.pgid) for a in attackers)
        t_drain, k = time.time() + 5.0, 10**6
        while time.time() < t_drain:  # the honest records of the last cycles, after the flood
            cycle(swarm, phase, k, publish=False)
            k += 1
            time.sleep(0.5)
        phase.notes["end"] = time.time()
        after = rejections(swarm)
        final = {i: r.get("bounds", {}) for i, r in request_all([(s, {}) for s in swarm.live()], "stats").items()}
    finally:
        for a in attackers:
            a.stop()
    honest = delivery(swarm, phase)
    wall = t1 - t0
    pushed = sum((Counter(f.get("pushed", {})) for f in floods), Counter())
    accepted_hostile = Counter(i for (i, sender, _) in phase.accepted if sender in attacker_ids)
    nodes, series = {}, {"t": [round(t, 1) for t, _ in samples]}
    for s in swarm.slots:
        i = s.index
        if i not in rss0 or i not in cpu1:
            continue
        peak = max(x[1].get(i, 0.0) for x in samples)
        mid, end = _mean_rss(samples, i, 0.4 * wall, 0.6 * wall), _mean_rss(samples, i, 0.8 * wall, wall)  # growth over the last half
        rej = after.get(i, Counter()) - before.get(i, Counter())
        nodes[f"h{i}"] = {
            "rss_start_mb": round(rss0[i], 1), "rss_peak_mb": round(peak, 1),
            "growth_last_half_pct": round(100 * (end / mid - 1), 1), "peak_over_baseline_mb": round(peak - baseline[i], 1),
            "cpu_cores": round((cpu1[i] - cpu0[i]) / wall, 2), "pushes_answered": pushed[s.node.peer_id],
            "hostile_accepted": accepted_hostile[i], **{r: rej[r] for r in T6_REASONS},
            "other": dict(Counter({r: c for r, c in rej.items() if r not in T6_REASONS})),
            "inbox_dropped_full": final.get(i, {}).get("inbox_dropped_full"),
        }
        series[f"h{i}"] = [round(x[1].get(i, float("nan")), 1) for x in samples]
        series[f"h{i} p2pd"] = [round(x.get(i, float("nan")), 1) for x in daemon_rss]
    n = nodes.values()
    sent = sum(f.get("sent", 0) for f in floods)
    verdicts = {
        "plateau (growth last half < 5%)": all(v["growth_last_half_pct"] < 5 for v in n),
        "peak < baseline + 256 MiB": all(v["peak_over_baseline_mb"] < 256 for v in n),
        "CPU < 1 core per node": all(v["cpu_cores"] < 1 for v in n),
        "honest delivery 100%": honest["delivery_ratio"] == 1.0,
        "over quota dropped and counted": all(v["over_quota"] > 0 for v in n),
        "inbox bounded": table_max["inbox_queued"] <= table_max["inbox_max"],
        "DHT storage within its budget": table_max["dht_storage_bytes"] <= swarm.config.get(
            "max_dht_storage_bytes", TransportConfig.model_fields["max_dht_storage_bytes"].default),
    }
    row = {
        **honest,
        "attack": f"{keys} admitted key(s), each its own process; target {rate:.0f} records/s/key, achieved "
                  + ", ".join(f"{f.get('rate_achieved')}" for f in floods) + " records/s/key "
                  + f"({sent} records: {dict(sum((Counter(f.get('built', {})) for f in floods), Counter()))}, "
                  + f"skipped while behind {sum(f.get('behind', 0) for f in floods)}; each stored once and pushed to "
                  + f"{max((f.get('targets', 0) for f in floods), default=0)} peers; pushes answered {sum(pushed.values())})",
        "attacker_cpu_cores": round((att_cpu1 - att_cpu0) / wall, 2),
        "flood_started": [s.get("peers") for s in started],
        "nodes": nodes, "table_max": dict(table_max),
        "verdicts": ", ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in verdicts.items()),
        "rss_series": series,
    }
    print(f"  T6 K={keys} {seconds:.0f} s: {row['attack']}; attacker CPU {row['attacker_cpu_cores']} cores", flush=True)
    print(f"  {'node':<5}{'RSS0':>7}{'peak':>7}{'grow%':>7}{'+base':>7}{'cores':>7}{'pushes':>8}{'acc':>5}"
          + "".join(f"{r[:10]:>11}" for r in T6_REASONS) + "  other")
    for name, v in nodes.items():
        print(f"  {name:<5}{v['rss_start_mb']:>7}{v['rss_peak_mb']:>7}{v['growth_last_half_pct']:>7}{v['peak_over_baseline_mb']:>7}"
              f"{v['cpu_cores']:>7}{v['pushes_answered']:>8}{v['hostile_accepted']:>5}" + "".join(f"{v[r]:>11}" for r in T6_REASONS)
              + f"  {v['other'] or ''}")
    print(f"  honest delivery {honest['delivery_ratio']} (p99 {honest['latency_p99_s']} s); max table sizes {dict(table_max)}\n"
          f"  {row['verdicts']}", flush=True)
    return row


def plot_t6_memory(rows: dict[str, dict], path: Path = T6_PLOT) -> str:
    """Honest RSS over time during each T6 run, one panel per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(6.5 * len(rows), 4.2), squeeze=False, sharey=True)
    for ax, (name, row) in zip(axes[0], rows.items()):
        s = row["rss_series"]
        for node, ys in s.items():
            if node != "t":  # the p2pd share dashed, below its node's total
                ax.plot(s["t"], ys, label=node, linewidth=1.2 if "p2pd" not in node else 0.8, linestyle="--" if "p2pd" in node else "-")
        ax.set_title(f"{name}\n{row['attack'][:60]}…", fontsize=9)
        ax.set_xlabel("seconds into the flood")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("RSS per honest node, node + p2pd (MiB; dashed: p2pd)")
    axes[0][-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path.relative_to(REPO))


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


def t8_fuzz(seconds: int) -> dict:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return {"skipped": "atheris is not installed (pip install atheris)"}
    from benchmarks.fuzz import TARGETS, run_target

    return {t: {k: v for k, v in run_target(t, seconds).items() if k not in ("tail",)} for t in TARGETS}


# ---------------------------------------------------------------- report


def t9_kills(kills: int, seed: int = 0) -> dict:
    """T9: SIGKILL a node's bookkeeping (metrics log + checkpoint writes) `kills` times; see tests/chaos/checkpoint_kills.py."""
    import tempfile

    from tests.chaos.checkpoint_kills import kill_while_writing

    with tempfile.TemporaryDirectory(prefix="sapo-t9-") as d:
        report = kill_while_writing(Path(d), kills, seed=seed).as_dict()
    report["failures"] = report["failures"][:10]
    print(f"  T9: {report['restarts_ok']}/{kills} restarts ok, {report['saves_completed']} checkpoints completed, "
          f"torn or corrupt loaded {report['torn_or_corrupt_loaded']}, metrics mismatches {report['metrics_mismatch']} "
          f"(seed {seed}, {report['seconds']} s)", flush=True)
    return report


def show(results: dict) -> None:
    print(f"\nchaos benchmark ({results['mode']}): {results['honest_nodes']} honest transport processes, push to peers: {results.get('push_to_peers')}, network: {results['network']}")
    print(f"{'row':<28}{'deliv':>8}{'acked':>7}{'p50 s':>7}{'p99 s':>7}{'max s':>7}{'crash':>6}{'RSS MiB':>9}  notes")
    for name, row in results["phases"].items():
        if "skipped" in row:
            print(f"{name:<28}SKIPPED: {row['skipped']}")
            continue
        subs = [(name, row)] if "delivery_ratio" in row else [(f"{name}/{k}", v) for k, v in row.items() if isinstance(v, dict) and "delivery_ratio" in v]
        for n, (sub, d) in enumerate(subs):
            note = {k: v for k, v in row.items() if not isinstance(v, dict) and k not in ("missed",) and k not in d} if n == 0 else {}
            print(f"{sub:<28}{d['delivery_ratio'] if d['delivery_ratio'] is not None else '-':>8}{d['acked']:>7}{d['latency_p50_s']:>7}"
                  f"{d['latency_p99_s']:>7}{d['latency_max_s'] or '-':>7}{results['crashes_total']:>6}{d['rss_peak_mb'] or '-':>9}  {note or ''}")
    if "T5" in results["phases"] and "classes" in results["phases"]["T5"]:
        print(f"\n{'T5/T6 hostile class':<24}{'reason':<16}{'injected':>9}{'rejected/node':>14}{'accepted':>9}  other")
        for kind, r in results["phases"]["T5"]["classes"].items():
            rej = f"{r['rejected_min']}-{r['rejected_max']}"
            print(f"{kind:<24}{r['reason'][:15]:<16}{r['injected']:>9}{rej:>14}{r['accepted_max']:>9}  {r['other_reasons'] or ''}{r['error'] or ''}")
        for kind, r in results["phases"]["T5"].get("forged_claims", {}).items():
            print(f"{kind:<24}{'intake':<16}{1:>9}{'':>14}{0 if r['verdict'] == 'PASS' else '?':>9}  received by {r['receivers']}, "
                  f"counted {r['counts_seen']}, claimed reward {r['claimed_reward']} re-scored {r['rescored_reward_max']}: {r['verdict']}")
    for name, row in results["phases"].items():
        if name.startswith("T5 at rate") and "reasons" in row:
            print(f"\n{name}: {row['attack']}; hostile accepted {row['hostile_accepted']}; {row['verdicts']}")
            print("\n".join(reason_table(row["reasons"])))
    if isinstance(results["phases"].get("T8"), dict) and "skipped" not in results["phases"]["T8"]:
        print(f"\n{'T8 fuzz target':<16}{'execs':>10}{'exec/s':>9}{'crashes':>9}{'>1 s':>6}")
        for t, r in results["phases"]["T8"].items():
            print(f"{t:<16}{r['executions']:>10}{r['exec_per_s']:>9}{r['crashes']:>9}{r['over_1s']:>6}  "
                  + "; ".join(f"{s['s']} s {s['what'][:70]}" for s in r["slow_inputs"][:2]))
    if isinstance(t9 := results["phases"].get("T9"), dict):
        print(f"\nT9 SIGKILLs while writing: {t9['kills']} kills, {t9['restarts_ok']} restarts ok, {t9['saves_completed']} checkpoints "
              f"completed; torn/corrupt loaded {t9['torn_or_corrupt_loaded']}, went back {t9['went_back']}, partial files left "
              f"{t9['partial_files_left']}, metrics mismatches {t9['metrics_mismatch']} (seed {t9['seed']}, {t9['seconds']} s)")
    print(f"\nmemory per node (MiB, node + p2pd): start {results['rss_start_mb']}, peak {results['rss_peak_mb']}; "
          f"crashes of honest nodes: {results['crashes_total']} {results['crashes'] or ''}; namespaces left: {results['left_over'] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases (< 12 minutes)")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--phases", help="comma-separated (default: every phase; with --quick the issue's quick set "
                        f"{QUICK_PHASES})")
    parser.add_argument("--no-push", action="store_true", help="DHT only: no flood publishing to admitted peers")
    parser.add_argument("--t6-keys", help="comma-separated attacker key counts of T6 (default: 1,4; quick: 4)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON written at the end (default {RESULTS.relative_to(REPO)})")
    args = parser.parse_args()
    # Namespaces and node processes are removed in `finally`: let SIGTERM and SIGINT (ignored in a
    # background job by default) reach it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    q = args.quick
    secs = dict(T0=15, T1=180, T2=15, T3=15, T4=15, T5=60, T6=120, T7=12, T7p=10, T8=60) if q else dict(T0=60, T1=600, T2=30, T3=60, T4=60, T5=60, T6=600, T7=60, T7p=30, T8=120)
    wanted = set((args.phases or (QUICK_PHASES if q else ALL_PHASES)).split(","))
    rng = random.Random(0)
    log_dir = Path(os.environ.get("CHAOS_LOG_DIR", "/tmp")) / f"sapo-chaos-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    net = Network(args.nodes + 3)
    results: dict[str, Any] = {"mode": "quick" if q else "full", "honest_nodes": args.nodes, "phases": {}, "time": time.time()}
    swarm = Swarm(net, args.nodes, log_dir)
    swarm.config["push_to_peers"] = not args.no_push
    results["push_to_peers"] = not args.no_push
    t_start = time.time()
    try:
        if os.geteuid() == 0:
            net.setup()
        else:
            net.fallback = "loopback (not root: no network namespaces)"
        results["network"] = net.fallback or f"one namespace per node, veth to a bridge, {SUBNET}.0/24"
        swarm.start_all()
        rss0 = [rss_mb(s.node) for s in swarm.slots]
        results["rss_start_mb"] = round(max(rss0), 1)
        print(f"{args.nodes} nodes up in {time.time() - t_start:.0f} s ({results['network']})", flush=True)
        phases = results["phases"]
        run = lambda name, fn: phases.__setitem__(name, fn()) if name.split()[0] in wanted else None  # noqa: E731
        run("T0 baseline", lambda: delivery(swarm, run_phase(swarm, Phase("T0"), secs["T0"])))
        run("T1 kill/restart", lambda: t1_churn(swarm, secs["T1"], rng))
        run("T2 partition", lambda: t2_partition(swarm, secs["T2"], cycles=1 if q else 3))
        run("T3 link", lambda: t3_bandwidth(swarm, secs["T3"], phases.get("T0 baseline")))
        run("T4 clock skew", lambda: t4_skew(swarm, secs["T4"]))
        if "T5" in wanted:
            attacker = swarm.spawn_extra(args.nodes, swarm.config, swarm.attacker_seed, script=ATTACKER_SCRIPT)
            try:
                phases["T5"] = t5_hostile(swarm, attacker, ("flood_over_quota",) if "T6" in wanted else ())
                phases["T5"]["forged_claims"] = t5_forged_claims(swarm, attacker)
                phases[f"T5 at rate ({secs['T5']} s)"] = t5_stream(swarm, attacker, secs["T5"])
            finally:
                attacker.stop()
        t6_baseline: dict[int, float] = {}  # per node RSS before the first flood, after T0
        for keys in (tuple(int(k) for k in args.t6_keys.split(",")) if args.t6_keys else (4,) if q else (1, 4)):
            run(f"T6 flood K={keys} ({'quick' if q else 'full'}, {secs['T6']} s)", lambda: t6_flood(swarm, secs["T6"], keys, t6_baseline))
        if t6_rows := {k: v for k, v in phases.items() if k.startswith("T6 flood")}:
            results["t6_plot"] = plot_t6_memory(t6_rows)
        run("T7 sybils", lambda: t7_sybils(swarm, secs["T7"], *((40, 60) if q else (120, 120))))  # quick: honest 40 s before the turn
        run("T7p outsiders", lambda: t7p_outsider(swarm, secs["T7p"]))
        results["rss_peak_mb"] = round(max([results["rss_start_mb"]] + [v.get("rss_peak_mb") or 0 for v in _rows(phases)]), 1)
        run("T8", lambda: t8_fuzz(secs["T8"]))
        run("T9", lambda: t9_kills(30 if q else 100))
    except (KeyboardInterrupt, SystemExit) as exc:  # stopped early: clean up, then report the phases that finished
        results["interrupted"] = f"{type(exc).__name__} during the run; phases after the last row did not run"
        print(results["interrupted"], flush=True)
    finally:
        swarm.stop()
        results["left_over"] = net.teardown() if not net.fallback else []
        results["crashes"] = swarm.crashes
        results["crashes_total"] = len(swarm.crashes)
        results["wall_s"] = round(time.time() - t_start, 1)
        results.setdefault("rss_start_mb", None)
        results.setdefault("rss_peak_mb", None)
        results.setdefault("network", net.fallback)
    show(results)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wall {results['wall_s']} s; wrote {args.out}")


def _rows(phases: dict) -> list[dict]:
    out = []
    for row in phases.values():
        if isinstance(row, dict):
            out += [row] + [v for v in row.values() if isinstance(v, dict)]
    return out


if __name__ == "__main__":
    main()
