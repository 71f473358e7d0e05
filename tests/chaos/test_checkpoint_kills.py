"""T9-lite: SIGKILL a writer at random points while it writes checkpoints and its metrics log; every
restart finds one complete checkpoint that was written and metrics that match it
(tests/chaos/checkpoint_kills.py; the 100-kill run is the T9 row of benchmarks.chaos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.checkpoint_kills import kill_while_writing

KILLS = 30


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_random_sigkills_while_saving_never_corrupt_the_checkpoint(tmp_path: Path) -> None:
    report = kill_while_writing(tmp_path, KILLS, seed=0)
    assert report.ok, report.failures[:5]
    assert report.restarts_ok == KILLS
    assert report.saves_completed >= 5, f"only {report.saves_completed} saves completed in {KILLS} kills: little was exercised"
