"""benchmarks.chaos_learning's arithmetic: rounds lost, stall gaps outside a node's own downtime,
the churn-vs-baseline comparison. No processes, no network."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.chaos_learning import report, run
from benchmarks.chaos_learning.swarm import Restart, Slot


def write_rows(folder: Path, times: list[float], reward: float = 0.5) -> None:
    folder.mkdir(parents=True)
    lines = [json.dumps({"round": r, "time": t, "reward_local": reward, "t_round": 1.0, "batches_received": 1,
                         "external_received": 2, "external_groups": 1}) for r, t in enumerate(times)]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")


class FakeSwarm:
    def __init__(self, slots: list[Slot]) -> None:
        self.slots = slots


def test_rounds_lost_is_done_minus_checkpoint() -> None:
    assert Restart(0, 0.0, completed_before_kill=12, checkpoint_round=11).rounds_lost == 1
    assert Restart(0, 0.0, completed_before_kill=12, checkpoint_round=None).rounds_lost is None


def test_gaps_inside_own_downtime_are_not_stalls(tmp_path: Path) -> None:
    slot = Slot(0, tmp_path / "node0", identity=None)  # type: ignore[arg-type]
    write_rows(slot.dir, [101.0, 102.0, 140.0, 141.0])
    slot.down.append((103.0, 140.0))
    detail = run._per_node(FakeSwarm([slot]), 100.0, 142.0)["node0"]
    assert detail["max_gap_s"] == 1.0 and detail["down_s"] == 37.0 and detail["rounds_in_window"] == 4
    slot.down.clear()
    assert run._per_node(FakeSwarm([slot]), 100.0, 142.0)["node0"]["max_gap_s"] == 38.0


def test_compare_reward_ratio_and_stall_flag(tmp_path: Path) -> None:
    def run(name: str, curve: list[float], gap: float, killed: int) -> dict:
        detail = {"rounds_per_min": 10.0, "rounds_per_min_up": 12.0, "max_gap_s": gap, "killed": killed}
        return {"run": name, "nodes": 1, "reward_curve": curve, "nodes_detail": {"node0": detail}, "crashes": [],
                "restarts": [{"rounds_lost": 1, "resumed_at_round": 3, "resumed_at_checkpoint": True,
                              "first_round_after_restart_s": 5.0, "first_batches_after_restart_s": 7.0}] * killed}

    out = report.compare(run("baseline", [0.2, 0.4, 0.6], 2.0, 0), run("churn", [0.1, 0.2], 31.0, 1))
    assert out["common_rounds"] == 2 and out["cumulative_reward_ratio"] == 0.5
    assert out["stall"] and out["rounds_lost_total"] == 1 and out["survivors"] == []
    assert report.moving_average([1.0, 3.0, 5.0], k=2) == [1.0, 2.0, 4.0]
