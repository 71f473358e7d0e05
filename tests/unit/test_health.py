"""health.json (`node.health`), its judgement (`swarm.watch`) and `swarm status --json`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from node.health import HealthFile, Vitals, read_health
from swarm.cli import app
from swarm.watch import MIN_STALL_S, assess, health_files

FIELDS = ("round", "last_round_at", "rounds_per_hour", "round_s_median", "reward_mean", "reward_peak", "peers_seen",
          "external_groups_last_10", "records", "rejections", "version", "protocol", "pid", "status", "collapse")
"""What the issue asks health.json to hold (and `status --json` to print)."""


def rows(n: int, gap: float, t0: float = 1000.0) -> list[dict]:
    return [{"round": i, "time": t0 + i * gap, "external_groups": i % 3, "generated_groups": 8} for i in range(n)]


def test_vitals_roll_over_recent_rounds() -> None:
    vitals = Vitals()
    for i, row in enumerate(rows(30, 2.0)):
        vitals.observe(row, published_groups=8 if i % 2 else 0)
    snap = vitals.snapshot()
    assert snap["round_s_median"] == 2.0 and snap["rounds_per_hour"] == 1800.0
    assert snap["external_groups_last_10"] == sum(i % 3 for i in range(20, 30))
    assert snap["records"] == {"generated": 30, "published": 15, "groups_generated": 240, "groups_published": 120}
    assert vitals.published_share() == 0.5


def test_health_file_is_replaced_whole(tmp_path: Path) -> None:
    health = HealthFile(tmp_path / "n0" / "health.json")
    health.write({"round": 1})
    health.write({"round": 2})
    assert read_health(tmp_path / "n0" / "health.json")["round"] == 2
    assert [p.name for p in (tmp_path / "n0").iterdir()] == ["health.json"]  # no temporary file left
    assert read_health(tmp_path / "missing.json") is None


def test_a_node_without_a_round_for_five_median_rounds_is_stalled() -> None:
    base = {"status": "running", "pid": 0, "round_s_median": 4.0, "last_round_at": 1000.0}
    assert assess(base, now=1000.0 + 19.0)["flags"] == []
    verdict = assess(base, now=1000.0 + 21.0)
    assert verdict["flags"] == ["stalled"] and "5 x median 4.00 s" in verdict["why"][0]
    fast = {**base, "round_s_median": 0.2}
    assert assess(fast, now=1000.0 + MIN_STALL_S - 1)["flags"] == []  # the floor: one slow read is not a stall
    assert assess({**base, "status": "finished"}, now=5000.0)["flags"] == []


def test_a_node_whose_process_is_gone_is_dead() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    verdict = assess({"status": "running", "pid": gone.pid, "last_round_at": time.time(), "round_s_median": 1.0}, time.time())
    assert verdict["flags"] == ["dead"]


def test_recent_reward_far_below_its_peak_is_collapsing() -> None:
    health = {"status": "running", "reward_mean": 0.30, "reward_peak": 0.50, "collapse": {"line": 0.35}}
    assert assess(health, now=0.0)["flags"] == ["collapsing"]
    assert assess({**health, "reward_mean": 0.40}, now=0.0)["flags"] == []


def test_records_of_another_major_are_flagged() -> None:
    assert assess({"status": "running", "rejections": {"version": 4, "schema": 1}}, now=0.0)["flags"] == ["version_mismatch"]


def test_status_json_prints_every_node_found(tmp_path: Path) -> None:
    run = tmp_path / "run"
    now = time.time()
    for name, last in (("node0", now), ("node1", now - 600)):
        record = {key: None for key in FIELDS}
        record.update(status="running", pid=0, last_round_at=last, round_s_median=1.0, records={}, rejections={"schema": 2},
                      collapse={"line": None})
        HealthFile(run / "nodes" / name / "health.json").write(record)
    assert set(health_files(run)) == {"node0", "node1"}
    result = CliRunner().invoke(app, ["status", "--json", str(run)])
    assert result.exit_code == 0, result.output
    nodes = {n["name"]: n for n in json.loads(result.stdout)["nodes"]}
    assert set(nodes) == {"node0", "node1"}
    assert all(key in nodes["node0"] for key in FIELDS)
    assert nodes["node0"]["assessment"]["flags"] == [] and nodes["node1"]["assessment"]["flags"] == ["stalled"]
