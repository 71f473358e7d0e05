"""The chaos benchmark's network: one namespace per node on a bridge, or loopback when that is not possible.

    net = Network(slots=11)
    net.setup()                      # as root; else net.fallback says why it runs on loopback
    net.ip(3), net.prefix(3)         # ("10.77.0.4", ["ip", "netns", "exec", "sapo-chaos<pid>-3"])
    left = net.teardown()            # every namespace deleted; returns any left over

Each slot is a namespace joined by a veth pair to a bridge in one more namespace (10.77.0.0/24, no
default route); blackhole routes (T2) and `tc` (T3) act inside the slots' namespaces.
"""

from __future__ import annotations

import os
import subprocess

NS_PREFIX = "sapo-chaos"
"""Namespaces are named ``sapo-chaos<pid>-<slot>`` (and ``-br`` for the bridge)."""
SUBNET = "10.77.0"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=30)


class Network:
    """n+2 slots: each in its own namespace on a bridge, or all on loopback when namespaces are unavailable."""

    def __init__(self, slots: int) -> None:
        self.slots, self.names, self.fallback = slots, [], ""
        self.tag = f"{NS_PREFIX}{os.getpid()}"
        """This run's namespaces are named after its pid, so two runs at once (a benchmark and a test) cannot collide."""
        self.bridge = f"{self.tag}-br"

    def setup(self) -> None:
        try:
            sh("ip", "netns", "add", self.bridge)
            self.names.append(self.bridge)
            sh("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", self.bridge, "link", "set", "br0", "up")
            for i in range(self.slots):
                ns = f"{self.tag}-{i}"
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
        return [] if self.fallback else ["ip", "netns", "exec", f"{self.tag}-{i}"]

    def ns_cmd(self, i: int, *args: str, check: bool = True) -> None:
        if not self.fallback:
            sh("ip", "netns", "exec", f"{self.tag}-{i}", *args, check=check)

    def teardown(self) -> list[str]:
        for ns in reversed(self.names):
            sh("ip", "netns", "del", ns, check=False)
        self.names = []
        return self.left_over()

    def left_over(self) -> list[str]:
        """This run's namespaces still present, and any of its links left in the root namespace."""
        out = sh("ip", "netns", "list", check=False).stdout
        links = sh("ip", "-o", "link", check=False).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(f"{self.tag}-")] + \
               [line for line in links.splitlines() if self.tag in line or "p0@" in line]
