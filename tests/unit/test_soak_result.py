"""The committed soak result (`benchmarks/results/soak/`) is what its committed run logs say.

`python -m benchmarks.soak --logs DIR` writes every node-round of each seed to `soak-s<seed>.jsonl`; the logs are
committed gzipped beside `soak.json`, and `python -m benchmarks.soak --report benchmarks/results/soak` rebuilds the
table, JSON and plot from them. This test rebuilds the per-node summaries from the logs and compares them with the
JSON, so a result edited by hand, or logs of another run, fail here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.soak.stats import PASS_FRACTION, from_log

RESULT = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "soak"


def test_soak_result_is_rebuilt_from_its_logs() -> None:
    report = json.loads((RESULT / "soak.json").read_text())
    logs = [from_log(path, report["window"]) for path in sorted(RESULT.glob("soak-s*.jsonl.gz"))]
    assert [rebuilt["seed"] for rebuilt in logs] == report["seeds"] == [run["seed"] for run in report["runs"]]
    assert report["rounds"] >= 2000 and report["nodes"] == 3 and len(report["seeds"]) >= 3
    for rebuilt, run in zip(logs, report["runs"]):
        assert [len(r) for r in rebuilt["reward"]] == [report["rounds"]] * report["nodes"]
        for mine, theirs in zip(rebuilt["summary"], run["summary"]):
            assert mine["peak_ma"] == pytest.approx(theirs["peak_ma"])
            assert mine["end_ma"] == pytest.approx(theirs["end_ma"])
            assert mine["eighths"] == theirs["eighths"]
            assert mine["passed"] == theirs["passed"] == (mine["end_ma"] >= PASS_FRACTION * mine["peak_ma"])
        assert [len(r) for r in rebuilt["rollbacks"]] == [len(r) for r in run["rollbacks"]]
    assert report["passed"] == all(s["passed"] for run in report["runs"] for s in run["summary"])


def test_report_rebuilds_a_folder_beside_its_logs_and_refuses_an_empty_one(tmp_path: Path) -> None:
    from benchmarks.soak.__main__ import main

    (tmp_path / "soak-s0.jsonl").write_text("".join(
        json.dumps({"node": k, "round": r, "reward_local": 0.5, "entropy": 0.4, "rollback": None}) + "\n"
        for r in range(30) for k in range(3)))
    main(["--report", str(tmp_path), "--window", "10"])
    report = json.loads((tmp_path / "soak.json").read_text())
    assert report["seeds"] == [0] and report["passed"] and (tmp_path / "soak.png").is_file()
    with pytest.raises(SystemExit, match="no soak-s<seed>"):
        main(["--report", str(tmp_path / "empty")])
