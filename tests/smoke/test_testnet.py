"""`swarm testnet` end to end, as a user runs it: a subprocess, a real DHT on loopback, tiny nodes.

Checks the run folder (summary.json, both metrics files, logs, plots), then that every process the
testnet started (recorded by pid and process group in processes.json) is gone. Processes are found
by process group, never by name.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.procs import group_alive

TIMEOUT_S = 540


def _logs(run_dir: Path) -> str:
    """The end of each process's log: a failure says what the nodes were doing."""
    logs = sorted(run_dir.glob("*/*.log")) + sorted(run_dir.glob("nodes/*/node.log"))
    return "".join(f"\n--- {p.relative_to(run_dir)}:\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def _reap(run_dir: Path) -> None:
    """Last resort if the testnet itself was killed: end the groups it recorded."""
    try:
        records = json.loads((run_dir / "processes.json").read_text())["processes"]
    except (FileNotFoundError, json.JSONDecodeError):
        return
    for record in records:
        try:
            os.killpg(record["pgid"], signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 60)
def test_testnet_two_nodes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "swarm.cli", "testnet", "--nodes", "2", "--rounds", "3", "--out", str(run_dir),
            "--set", "testnet.stagger_s=0.2", "--set", "testnet.timeout_s=400",
            "--set", "node.sampler.local_i=4", "--set", "node.sampler.external_j=4",
            "--set", "node.sampler.completions_l=4"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="120"))
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the testnet stops its children on SIGTERM
        output, _ = proc.communicate(timeout=60)
        pytest.fail(f"testnet did not finish in {TIMEOUT_S}s:\n{output[-3000:]}{_logs(run_dir)}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _reap(run_dir)
    assert proc.returncode == 0, output[-4000:] + _logs(run_dir)

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["outcome"] == "finished" and summary["died"] == {}
    for name in ("node0", "node1"):
        node = run_dir / "nodes" / name
        rows = [json.loads(line) for line in (node / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 3
        assert summary["nodes"][name]["rounds"] == 3
        log = (node / "node.log").read_text()
        lines = re.findall(rf"^\S+ \S+ {name} node\.round INFO: round (\d+)  reward \d\.\d{{3}}  ext \d+/4  peers \d+  ", log, re.M)
        assert lines == ["1", "2", "3"], log[-3000:]  # one line per round, each once
        assert "finished: 3 of 3 rounds done" in log
        assert (node / "identity.pem").stat().st_mode & 0o777 == 0o600
    status = subprocess.run([sys.executable, "-m", "swarm.cli", "status", "--json", str(run_dir)], capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    health = {n["name"]: n for n in json.loads(status.stdout)["nodes"]}
    assert set(health) == {"node0", "node1"}
    for record in health.values():
        assert record["status"] == "finished" and record["rounds_done"] == 3 and record["assessment"]["flags"] == []
        for key in ("last_round_at", "rounds_per_hour", "reward_mean", "reward_peak", "peers_seen",
                    "external_groups_last_10", "records", "rejections", "version", "pid"):
            assert key in record, key
    assert summary["totals"]["external_groups"] > 0, "nodes never used each other's rollouts"
    for png in ("reward_per_node.png", "local_vs_external.png"):
        assert (run_dir / png).stat().st_size > 1000

    processes = json.loads((run_dir / "processes.json").read_text())
    assert {p["name"] for p in processes["processes"]} == {"bootstrap", "node0", "node1"}
    assert processes["leftover_pids"] == []
    for record in processes["processes"]:
        assert not group_alive(record["pgid"]), f"{record['name']} left processes behind"

    report = subprocess.run([sys.executable, "-m", "swarm.cli", "report", str(run_dir)],
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0 and "node1" in report.stdout
