"""The poisoning grid analyses only runs on its pinned model builds (benchmarks/poison/builds.py)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.common import RunLog  # noqa: E402
from benchmarks.poison import builds  # noqa: E402
from benchmarks.poison.__main__ import set_aside_other_builds  # noqa: E402
from benchmarks.poison.grid import full_blocks, jobs_of, spec_key  # noqa: E402


def logged(spec, loaded) -> dict:
    return {"key": spec_key(spec), "spec": asdict(spec), "builds": loaded, "reward": [[0.5]]}


def test_a_row_spec_round_trips_to_its_key() -> None:
    for _, _, spec in jobs_of(full_blocks(rounds=100, seeds=2)):
        row = logged(spec, {})
        assert builds.spec_of(row) == spec and spec_key(builds.spec_of(row)) == row["key"]


def test_only_rows_on_every_pinned_build_count() -> None:
    mixed = next(s for _, a, s in jobs_of(full_blocks()) if len(set(a.models)) == 2)
    assert builds.on_pinned(logged(mixed, builds.pinned_for(mixed.models)))
    assert not builds.on_pinned(logged(mixed, {"tiny-0.5m": builds.PINNED["tiny-0.5m"]}))  # one model unrecorded
    assert not builds.on_pinned(logged(mixed, {**builds.pinned_for(mixed.models), "tiny-1.5m": "679b04bb"}))
    assert builds.check_pinned(builds.pinned_for(["tiny-0.5m", "smollm2-135m"])) == []
    (line,) = builds.check_pinned({"tiny-0.5m": "752208e0" + "0" * 56})
    assert line.startswith("tiny-0.5m: built 752208e00000..., pinned 1d84b9b195d3...")


def test_rows_on_other_builds_are_set_aside_and_rerun(tmp_path: Path) -> None:
    jobs = [s for _, _, s in jobs_of(full_blocks())[:3]]
    log, aside = RunLog(tmp_path / "grid"), RunLog(tmp_path / "grid-other-builds")
    log.append(logged(jobs[0], builds.pinned_for(jobs[0].models)))
    log.append(logged(jobs[1], {"tiny-0.5m": "752208e0"}))
    log.append(logged(jobs[2], builds.pinned_for(jobs[2].models)))
    set_aside_other_builds(log, aside)
    assert list(log.load()) == [spec_key(jobs[0]), spec_key(jobs[2])]
    assert [row["key"] for row in aside.rows()] == [spec_key(jobs[1])]
    assert not log.plain.exists() and aside.packed.exists()  # both rewritten compressed
