"""T3, slow links: every node behind its own userspace fault proxy (`benchmarks.chaos.proxy`: 100±20 ms,
then 1 Mbit/s; loss SKIPPED), then one node behind the kernel's `tc tbf` at 256 kbit/s.

    row = t3_bandwidth(swarm, 60, baseline=t0_row)   # T0's p99 sets the latency target
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.chaos.network import Network
from benchmarks.chaos.swarm import REPO, Proc, Swarm
from benchmarks.chaos.workload import Phase, delivery, run_phase


PROXY_MODULE = "benchmarks.chaos.proxy"
NODE_PORT, PROXY_PORT = 47100, 47200
"""T3: node i listens on 127.0.0.1:NODE_PORT+i inside its namespace (no other namespace can reach it) and
announces its proxy, which listens on the slot's address at PROXY_PORT+i: every byte between nodes crosses one."""
T3_FAULTS = {"latency 100±20ms": {"latency_ms": 100, "jitter_ms": 20, "rate_kbit": 0},
             "rate 1Mbit/s": {"latency_ms": 0, "jitter_ms": 0, "rate_kbit": 1000}}
T3_LOSS = "SKIPPED: netem is absent and a TCP proxy cannot drop packets (the kernel retransmits below it)"


class FaultProxy:
    """`benchmarks.chaos.proxy` in slot i's namespace, forwarding the slot's address to its node on loopback."""

    def __init__(self, net: Network, i: int, seed: int, log: Path) -> None:
        self.name, self.stderr = f"h{i}", open(log, "ab")
        self.proc = subprocess.Popen(
            [*net.prefix(i), sys.executable, "-m", PROXY_MODULE, "--listen", f"{net.ip(i)}:{PROXY_PORT + i}",
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
