"""The poisoning grid's scheduler: jobs within a memory budget, and a killed job reported instead of hanging."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from benchmarks.poison.scheduler import job_memory_gb, memory_budget_gb, run_within_budget


def _timed(job: tuple[str, float]) -> dict:
    start = time.monotonic()
    time.sleep(0.3)
    return {"job": job[0], "start": start, "end": time.monotonic()}


def test_heavy_jobs_never_overlap_and_a_light_one_runs_beside_them() -> None:
    jobs = [("heavy-1", 13.0), ("heavy-2", 13.0), ("light", 1.0)]
    rows = {r["job"]: r for r in run_within_budget(jobs, workers=2, budget_gb=18.0, need_gb=lambda j: j[1],
                                                   describe=lambda j: {"job": j[0]}, run=_timed)}
    assert set(rows) == {"heavy-1", "heavy-2", "light"} and all("max_rss_mb" in r for r in rows.values())
    first, second = sorted((rows["heavy-1"], rows["heavy-2"]), key=lambda r: r["start"])
    assert second["start"] >= first["end"]  # the second heavy job waited for the first
    assert rows["light"]["start"] < first["end"]  # the light job did not wait behind the heavy one


def test_a_killed_job_yields_an_error_row_and_the_others_finish() -> None:
    def run(job: tuple[str, float]) -> dict:
        if job[0] == "oom":
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's out-of-memory killer does
        return {"job": job[0]}

    rows = list(run_within_budget([("oom", 1.0), ("fine", 1.0)], workers=1, budget_gb=4.0, need_gb=lambda j: j[1],
                                  describe=lambda j: {"job": j[0]}, run=run))
    by_job = {r["job"]: r for r in rows}
    assert "error" not in by_job["fine"]
    assert "signal 9" in by_job["oom"]["error"] and "out-of-memory" in by_job["oom"]["error"]


def test_memory_estimates_and_budget(tmp_path: Path) -> None:
    assert job_memory_gb(("smollm2-135m",), 2) > 9.0 > 2.0 > job_memory_gb(("tiny-0.5m",), 8)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24576000 kB\nMemFree: 1 kB\n")
    assert abs(memory_budget_gb(meminfo) - 0.8 * 24576000 / 2**20) < 1e-9
    assert memory_budget_gb(tmp_path / "missing") == 16.0
