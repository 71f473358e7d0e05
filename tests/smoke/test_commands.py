"""One subprocess smoke test per `swarm` command, with tiny settings (cleanrl's
`tests/test_classic_control_gymnasium.py` pattern). `swarm testnet` has its own file.

Every process started here runs in its own session and is stopped by its process group.
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

from swarm.procs import group_alive

SWARM = [sys.executable, "-m", "swarm.cli"]
TINY = ["--model", "tiny-0.5m", "--device", "cpu", "--set", "node.sampler.local_i=2", "--set",
        "node.sampler.external_j=2", "--set", "node.sampler.completions_l=4", "--set", "transport.swarm_id=smoke",
        "--set", "transport.host_maddrs=[/ip4/127.0.0.1/tcp/0]", "--set", "transport.window_seconds=2",
        "--set", "node.round.checkpoint_every=1"]


def swarm(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*SWARM, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, SAPO_SWARM_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", COLUMNS="200")


@pytest.fixture
def bootstrap(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """A `swarm bootstrap` subprocess; yields its first multiaddr; stopped (and checked) afterwards."""
    out = tmp_path / "bootstrap"
    proc = subprocess.Popen([*SWARM, "bootstrap", "--out", str(out), "--set", "transport.swarm_id=smoke"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not (out / "bootstrap.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "bootstrap did not come up"
            time.sleep(0.2)
        yield json.loads((out / "bootstrap.json").read_text())["maddrs"][0]
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert "bootstrap peer up" in output and "/p2p/" in output
        assert not group_alive(proc.pid), "bootstrap left its daemon behind"
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def test_help_is_instant_and_imports_no_torch() -> None:
    code = "import sys, swarm.cli; assert 'torch' not in sys.modules and 'hivemind' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    start = time.monotonic()
    result = subprocess.run([*SWARM, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "testnet" in result.stdout
    assert time.monotonic() - start < 10


def test_identity_new_and_show(env: dict[str, str], tmp_path: Path) -> None:
    new = swarm("identity", "new", env=env)
    assert new.returncode == 0, new.stderr
    key = tmp_path / "home" / "identity.pem"
    assert str(key) in new.stdout and key.stat().st_mode & 0o777 == 0o600
    show = swarm("identity", "show", env=env)
    assert show.returncode == 0 and new.stdout.splitlines()[0] == show.stdout.splitlines()[0]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_run_one_node_without_network(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "node"
    config = tmp_path / "c.yaml"
    config.write_text("node:\n  model: {name: tiny-0.5m, device: cpu}\n  sampler: {local_i: 2, external_j: 0, completions_l: 4}\n"
                      "  round: {rounds: 2}\ntransport: {type: none}\n")
    result = swarm("run", "--config", str(config), "--out", str(out), env=env, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "node.json").read_text())["peer_id"] in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_bootstrap_status_join_and_resume(bootstrap: str, env: dict[str, str], tmp_path: Path) -> None:
    status = swarm("status", "--peers", bootstrap, "--wait", "1", "--set", "transport.swarm_id=smoke", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Live peers" in status.stdout

    out = tmp_path / "joined"
    first = swarm("join", "--peers", bootstrap, "--out", str(out), "--set", "node.round.rounds=1", *TINY, env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"up: {out.name}: peer" in first.stdout and "/ip4/127.0.0.1/tcp/" in first.stdout  # the supervisor names the node
    again = swarm("join", "--peers", bootstrap, "--out", str(out), "--set", "node.round.rounds=2", *TINY, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    rounds = [json.loads(line)["round"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rounds) == 2 and rounds[1] > rounds[0], "a restart must resume, not start over"


def test_report_command(tmp_path: Path, env: dict[str, str]) -> None:
    node = tmp_path / "run" / "nodes" / "node0"
    node.mkdir(parents=True)
    node.joinpath("metrics.jsonl").write_text("".join(
        json.dumps({"round": r, "time": float(r), "reward_local": r / 4, "reward_external": None}) + "\n" for r in range(3)))
    result = swarm("report", str(tmp_path / "run"), env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "summary.json").exists() and (tmp_path / "run" / "reward_per_node.png").exists()
