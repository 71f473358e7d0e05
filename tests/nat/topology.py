"""A home behind NAT, built from network namespaces: a public bridge, public hosts, a router, a home host.

    with NatTopology(publics=3) as net:          # torn down on exit, even after an error
        net.run("pub0", ["ip", "addr"])           # a command inside a namespace
        argv = net.prefix("home") + [...]          # a process inside one (`ip netns exec` execs it)
        net.forward_port(31337)                    # the home made dialable: DNAT on the router

    public bridge 10.79.0.0/24:  pub0 .1, pub1 .2, pub2 .3, ...  router .254
    home link 192.168.79.0/24:   router .1, home .2 (default route via the router)

The router masquerades what the home sends out (conntrack keeps the replies), drops every new
connection from the public side (to the router's own address too: a dial-back times out, as behind a
home NAT, instead of being refused) and routes nothing else. The public hosts have no route to the home
link at all. Names carry this process's pid, so two runs never share a namespace; `teardown` deletes
every namespace it made (their veths go with them) and returns what is left over (nothing).

Needs root, ``ip`` (iproute2) and ``iptables`` (`make test` installs it as root: the Makefile's nat-tools).
Reference: benchmarks/chaos/network.py `Network` (namespaces on a bridge); iptables-extensions(8) conntrack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Sequence

PUBLIC = "10.79.0"
HOME = "192.168.79"
ROUTER_PUBLIC_IP = f"{PUBLIC}.254"
HOME_IP = f"{HOME}.2"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=30)


def missing_tools() -> str | None:
    """Why the topology cannot be built here (None if it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (as root: apt-get install -y iptables iproute2; `make test` does it)"
    return None


class NatTopology:
    def __init__(self, publics: int = 3) -> None:
        self.publics = publics
        self.tag = f"sn{os.getpid() % 100000}"
        self.made: list[str] = []
        self.forwarded: list[int] = []

    def ns(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def ip(self, name: str) -> str:
        if name == "home":
            return HOME_IP
        if name == "router":
            return ROUTER_PUBLIC_IP
        return f"{PUBLIC}.{int(name.removeprefix('pub')) + 1}"

    def prefix(self, name: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(name)]

    def run(self, name: str, argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
        return sh(*self.prefix(name), *argv, check=check)

    # ------------------------------------------------------------ build and tear down

    def __enter__(self) -> "NatTopology":
        try:
            self.setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def _add(self, name: str) -> str:
        ns = self.ns(name)
        sh("ip", "netns", "add", ns)
        self.made.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def _link(self, a: str, a_if: str, b: str, b_if: str) -> None:
        sh("ip", "link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b)
        sh("ip", "-n", a, "link", "set", a_if, "up")
        sh("ip", "-n", b, "link", "set", b_if, "up")

    def setup(self) -> None:
        bridge = self._add("bridge")
        sh("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", bridge, "link", "set", "br0", "up")
        for i, name in enumerate([f"pub{i}" for i in range(self.publics)] + ["router"]):
            ns = self._add(name)
            self._link(ns, "eth0", bridge, f"v{i}")
            sh("ip", "-n", bridge, "link", "set", f"v{i}", "master", "br0")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip(name)}/24", "dev", "eth0")
        router, home = self.ns("router"), self._add("home")
        self._link(router, "eth1", home, "eth0")
        sh("ip", "-n", router, "addr", "add", f"{HOME}.1/24", "dev", "eth1")
        sh("ip", "-n", home, "addr", "add", f"{HOME_IP}/24", "dev", "eth0")
        sh("ip", "-n", home, "route", "add", "default", "via", f"{HOME}.1")
        self.run("router", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        for rule in (
            ["-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE"],
            ["-A", "FORWARD", "-i", "eth0", "-o", "eth1", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", "eth0", "-o", "eth1", "-j", "DROP"],
            ["-A", "INPUT", "-i", "eth0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-A", "INPUT", "-i", "eth0", "-j", "DROP"],
        ):
            self.run("router", ["iptables", *rule])

    def forward_port(self, port: int) -> None:
        """Make the home dialable on `port`: the router forwards TCP to it from its public address."""
        self.run("router", ["iptables", "-t", "nat", "-A", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", str(port),
                            "-j", "DNAT", "--to-destination", f"{HOME_IP}:{port}"])
        self.run("router", ["iptables", "-I", "FORWARD", "1", "-i", "eth0", "-o", "eth1", "-p", "tcp", "-d", HOME_IP,
                            "--dport", str(port), "-j", "ACCEPT"])
        self.forwarded.append(port)

    def unforward_port(self, port: int) -> None:
        self.run("router", ["iptables", "-t", "nat", "-D", "PREROUTING", "-i", "eth0", "-p", "tcp", "--dport", str(port),
                            "-j", "DNAT", "--to-destination", f"{HOME_IP}:{port}"])
        self.run("router", ["iptables", "-D", "FORWARD", "-i", "eth0", "-o", "eth1", "-p", "tcp", "-d", HOME_IP,
                            "--dport", str(port), "-j", "ACCEPT"])
        self.forwarded.remove(port)

    def teardown(self) -> list[str]:
        """Delete every namespace made here (their veths and rules go with them); returns any left over."""
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made = []
        listed = sh("ip", "netns", "list", check=False).stdout
        return [line.split()[0] for line in listed.splitlines() if line.startswith(self.tag + "-")]
