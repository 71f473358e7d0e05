"""A node behind NAT takes part, knows it is not dialable and says how to become so (`tests/nat/topology.py`).

Topology: a bootstrap peer (pub0) and two training nodes (pub1, pub2) on a public bridge; a home node
behind a router that masquerades its outbound traffic and drops every inbound connection. Real
processes: `swarm bootstrap`, `swarm join`, `swarm doctor`, each over the real DHT and p2pd.

1. `swarm doctor` in the home namespace: "not dialable" (FAIL, with the port-forward fix), every other
   check PASS. The router then forwards the port, and the same doctor with `--announce-maddr` says
   "dialable" and passes everything.
2. Forwarding off again, the home node joins: its start-up finds it is not dialable (DHT client mode).
   It trains on J external groups in >= 80% of its rounds after the fifth, and every batch it publishes
   reaches both public nodes (delivery 1.0 over its rounds, counted from their ``batches_from``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.nat.topology import ROUTER_PUBLIC_IP, NatTopology, missing_tools

pytestmark = [pytest.mark.slow, pytest.mark.swarm,
              pytest.mark.skipif(missing_tools() is not None, reason=f"NAT topology: {missing_tools()}")]

SWARM = [sys.executable, "-m", "swarm.cli"]
PORT = 31337
HOME_ROUNDS = 30
J = 2
NODE = ["--model", "tiny-0.5m", "--device", "cpu", "--port", str(PORT),
        "--set", "node.sampler.local_i=4", "--set", "node.sampler.completions_l=8", "--set", "node.model.threads=1",
        "--set", "transport.window_seconds=2", "--set", "transport.startup_timeout_s=30",
        "--set", "node.round.min_round_s=0.5", "--set", "node.round.checkpoint_every=0"]


class Procs:
    """Processes started in the namespaces; each is its own process group, stopped by the group."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env, self.procs = log_dir, env, {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True, cwd=Path(__file__).parents[2])
        return self.procs[name]

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text()

    def stop(self, name: str, timeout: float = 20) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # p2pd too, if it outlived the node
        except ProcessLookupError:
            pass
        proc.wait(10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{what} not up within {timeout} s"
        time.sleep(0.2)  # a file another process writes: there is nothing to await


def metrics(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def swarm_behind_nat(tmp_path: Path) -> Iterator[tuple[NatTopology, Procs, Path, str]]:
    """The topology, a bootstrap peer on pub0 and two training nodes on pub1 and pub2."""
    from node.config import ModelConfig
    from node.models import ensure_model

    ensure_model(ModelConfig(name="tiny-0.5m"))  # build once here, not in three nodes at once
    env = dict(os.environ, HF_HUB_OFFLINE="1", SAPO_SWARM_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1",
               COLUMNS="200", OMP_NUM_THREADS="1")
    with NatTopology(publics=3) as net:
        procs = Procs(tmp_path, env)
        try:
            boot = procs.start("bootstrap", net.prefix("pub0") + SWARM + [
                "bootstrap", "--port", str(PORT), "--identity", str(tmp_path / "boot.pem"), "--out", str(tmp_path / "boot")])
            wait_for(tmp_path / "boot" / "bootstrap.json", boot, 90, "bootstrap")
            maddrs = json.loads((tmp_path / "boot" / "bootstrap.json").read_text())["maddrs"]
            bootstrap = next(m for m in maddrs if m.startswith(f"/ip4/{net.ip('pub0')}/"))
            for i in (1, 2):
                procs.start(f"pub{i}", net.prefix(f"pub{i}") + SWARM + [
                    "join", "--peers", bootstrap, "--out", str(tmp_path / f"pub{i}"), "--identity", str(tmp_path / f"pub{i}.pem"),
                    *NODE, "--set", "node.sampler.external_j=4", "--set", "node.round.rounds=100000"])
            yield net, procs, tmp_path, bootstrap
        finally:
            procs.stop_all()
        assert net.teardown() == []


def doctor(net: NatTopology, procs: Procs, tmp: Path, bootstrap: str, *extra: str) -> dict:
    result = subprocess.run(net.prefix("home") + SWARM + [
        "doctor", "--peers", bootstrap, "--port", str(PORT), "--identity", str(tmp / "home.pem"), "--out", str(tmp / "homenode"),
        "--model", "tiny-0.5m", "--device", "cpu", "--json", *extra], capture_output=True, text=True, env=procs.env, timeout=120)
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["ok"] else 1), result.stderr
    return {c["name"]: c for c in report["checks"]}


@pytest.mark.timeout(420)
def test_home_behind_nat_trains_and_delivers(swarm_behind_nat) -> None:
    net, procs, tmp, bootstrap = swarm_behind_nat
    started = time.monotonic()
    subprocess.run(SWARM + ["identity", "new", "--path", str(tmp / "home.pem")], env=procs.env, check=True, capture_output=True)

    behind = doctor(net, procs, tmp, bootstrap)
    assert not behind["dialable from outside"]["ok"], behind
    assert "not dialable" in behind["dialable from outside"]["detail"]
    assert f"--announce-maddr /ip4/{ROUTER_PUBLIC_IP}/tcp/{PORT}" in behind["dialable from outside"]["fix"]
    assert all(c["ok"] for name, c in behind.items() if name != "dialable from outside"), behind

    net.forward_port(PORT)
    forwarded = doctor(net, procs, tmp, bootstrap, "--announce-maddr", f"/ip4/{ROUTER_PUBLIC_IP}/tcp/{PORT}")
    assert forwarded["dialable from outside"]["ok"] and forwarded["dialable from outside"]["detail"].startswith("dialable"), forwarded
    assert all(c["ok"] for c in forwarded.values()), forwarded
    net.unforward_port(PORT)
    doctors_s = time.monotonic() - started

    for i in (1, 2):
        wait_for(tmp / f"pub{i}" / "node.json", procs.procs[f"pub{i}"], 120, f"pub{i}")
    home = procs.start("home", net.prefix("home") + SWARM + [
        "join", "--peers", bootstrap, "--out", str(tmp / "homenode"), "--identity", str(tmp / "home.pem"), *NODE,
        "--set", f"node.sampler.external_j={J}", "--set", f"node.round.rounds={HOME_ROUNDS}",
        "--set", "node.round.wait_for_peers=2", "--set", "node.round.wait_for_peers_s=60"])
    assert home.wait(240) == 0, procs.log("home")[-3000:]
    time.sleep(8)  # four windows: the public nodes collect the home's last records (they expire after three)
    for i in (1, 2):
        procs.stop(f"pub{i}")

    log = procs.log("home")
    assert "not dialable: a peer could not connect back to" in log, log[-3000:]
    assert json.loads((tmp / "homenode" / "node.json").read_text())["reachability"] == "not dialable"
    rows = metrics(tmp / "homenode")
    home_id = rows[0]["peer_id"]
    later = rows[5:]
    full_j = sum(r["external_groups"] == J for r in later) / len(later)
    published = len(rows) - rows[-1]["publish_skipped"]
    delivery = {}
    for i in (1, 2):
        received = sum(r.get("batches_from", {}).get(home_id, 0) for r in metrics(tmp / f"pub{i}"))
        delivery[f"pub{i}"] = received / published
    print(f"\nNAT test: home rounds {len(rows)}, rounds after the fifth with J={J} external groups: {full_j:.0%}; "
          f"published {published}, delivery {delivery}; doctors {doctors_s:.0f} s, whole test {time.monotonic() - started:.0f} s")
    assert len(rows) == HOME_ROUNDS and published >= 20
    assert full_j >= 0.8, [r["external_groups"] for r in rows]
    assert delivery == {"pub1": 1.0, "pub2": 1.0}, delivery
