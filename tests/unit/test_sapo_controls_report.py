"""The controls table's report (benchmarks.sapo.controls_report / controls_output) on a synthetic run log:
complete tiers only, the best control chosen by reward per CPU-second, the README block rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.sapo import controls
from benchmarks.sapo.controls_output import BEGIN, END, markdown, write_controls
from benchmarks.sapo.controls_report import controls_report
from benchmarks.sapo.runs import spec_key

REWARD = {"8/8 positive": 0.06, "8/0": 0.025, "16/0": 0.05, "12/0, CPU-matched": 0.038, "8/8 replay positive": 0.035,
          "8/8 uniform": 0.05, "8/8 need positive": 0.055}
"""Reward per node-round of each arm (build 0; build b has (1 + 0.1 b) times it)."""
CPU = {"8/8 positive": 0.16, "8/0": 0.12, "16/0": 0.21, "12/0, CPU-matched": 0.165, "8/8 replay positive": 0.16,
       "8/8 uniform": 0.27, "8/8 need positive": 0.17}
"""CPU-seconds per node-round: per CPU-second 16/0 (0.238) is the best control, S has 0.375."""


def _row(spec, label: str, build: int) -> dict:
    n, rounds = spec.n_nodes, spec.rounds
    reward = REWARD[label] * (1 + 0.1 * build) * (1 + 0.05 * spec.seed)
    return {"key": spec_key(spec), "common": [[reward] * rounds for _ in range(n)], "rewards": [[reward] * rounds] * n,
            "cpu_s": CPU[label] * n * rounds, "cpu": [[CPU[label]] * rounds for _ in range(n)],
            "kept": [[spec.local_i // 4 + spec.external_j] * rounds] * n, "kept_local": [[spec.local_i // 4] * rounds] * n,
            "replayed": [[spec.external_j if spec.replay_groups else 0] * rounds] * n, "local_i": [[spec.local_i] * rounds] * n,
            "age_windows": [[1.5 if spec.external_j and not spec.replay_groups else None] * rounds] * n}


@pytest.fixture
def blocks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(controls, "CPU_MATCHED_I", 12)
    return controls.controls_blocks(seeds=(0, 1, 2))


def _log(blocks, seeds: tuple[int, ...], drop: int = 0) -> dict[str, dict]:
    primary = blocks[0]
    rows = [_row(spec, config.label, build) for seed in seeds for build in primary.builds
            for config, spec in zip(primary.configs, primary.specs(seed, build))]
    return {row["key"]: row for row in rows[:len(rows) - drop]}


def test_only_complete_tiers_are_analysed(blocks) -> None:
    report = controls_report(blocks, _log(blocks, (0, 1), drop=1))  # seed 1 lost its last run
    primary, dense = report["blocks"]
    assert primary["tiers_complete"] == [0] and primary["units"] == 3
    assert primary["tiers_cut_short"] == [{"seed": 1, "runs_done": 20, "runs_planned": 21}]
    assert dense["units"] == 0 and dense["tiers_cut_short"] == []
    listed = primary["runs_of_tiers_cut_short"]  # listed as logged, outside every comparison
    assert len(listed) == 20 and {r["seed"] for r in listed} == {1} and "8/8 uniform" in {r["label"] for r in listed}
    assert all(arm["rounds"] == 150 for arm in primary["arms"].values())


def test_s_is_compared_with_the_best_control_per_cpu_second(blocks) -> None:
    primary = controls_report(blocks, _log(blocks, (0, 1)))["blocks"][0]
    analysis = primary["analysis"]
    assert analysis["sharing"] == "8/8 positive" and analysis["best_control"] == "16/0"
    assert analysis["primary"]["mean"] == pytest.approx((0.06 / 0.16) / (0.05 / 0.21), abs=1e-4)
    assert analysis["primary"]["n"] == 6 and analysis["success"]
    assert analysis["best_compute_matched"] == "12/0, CPU-matched"  # (b) and (c) only, by cumulative reward
    assert analysis["secondary"]["mean"] == pytest.approx(0.06 / 0.038, abs=1e-4)
    assert set(analysis["vs_sharing"]) == {"8/8 uniform", "8/8 need positive"}
    s = primary["arms"]["8/8 positive"]
    assert (s["generated_per_round"], s["groups_per_update"], s["peers_per_update"]) == (8, 10, 8)
    assert primary["arms"]["8/8 replay positive"]["replayed_per_update"] == 8


def test_outputs_rewrite_only_the_readme_block(blocks, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(f"before\n{BEGIN} (written by ...) -->\nNot run yet.\n{END}\nafter\n")
    text = write_controls(controls_report(blocks, _log(blocks, (0,))), tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("before\n") and readme.endswith(f"{END}\nafter\n") and "Not run yet" not in readme
    assert "1 complete tier(s) analysed" in readme and "I_b = 12" in readme and 'best control "16/0"' in readme
    assert json.loads((tmp_path / "controls.json").read_text())["blocks"][0]["units"] == 3
    assert (tmp_path / "controls.png").stat().st_size > 0 and "README.md" in text


def test_an_empty_log_reports_nothing_analysed(tmp_path: Path) -> None:
    report = controls_report(controls.controls_blocks(require_calibration=False), {})
    write_controls(report, tmp_path)  # no README here: nothing to rewrite, no error
    assert [b["units"] for b in report["blocks"]] == [0, 0] and (tmp_path / "controls.png").exists()


def test_the_isolation_controls_read_no_peers_and_old_run_keys_stand() -> None:
    """(a), (b) and (c) are isolation: no transport, so nothing of peers reaches their updates; (c)'s J slots only
    its own replay buffer fills. The keys of runs logged before `peers` existed do not change."""
    from benchmarks.sapo.controls import REPLAY, controls_blocks, role
    from benchmarks.sapo.runs import spec_key

    block = controls_blocks()[0]
    for config, spec in zip(block.configs, block.specs(seed=0, build=0)):
        isolated = role(config.label) in ("a", "b", "c")
        assert spec.sharing is not isolated, config.label
        assert ('"peers"' in spec_key(spec)) is (config is REPLAY), config.label
    replay = next(s for c, s in zip(block.configs, block.specs(seed=0)) if c is REPLAY)
    assert replay.replay_groups > 0 and replay.external_j > 0 and not replay.sharing


def test_each_complete_tier_names_the_hosts_its_runs_logged(blocks) -> None:
    """CPU-seconds differ between hosts; ratios are paired within a tier, so the table says which host ran which."""
    log = _log(blocks, (0, 1))
    for row in log.values():
        if json.loads(row["key"])["seed"] == 1:
            row["host"] = "x86_64, 2 cores, AVX2 kernels"
    report = controls_report(blocks, log)
    assert report["blocks"][0]["hosts"] == {"0": ["not recorded"], "1": ["x86_64, 2 cores, AVX2 kernels"]}
    assert "Hosts: seed 0: not recorded; seed 1: x86_64, 2 cores, AVX2 kernels." in markdown(report)
    assert "Hosts:" not in markdown(controls_report(blocks, _log(blocks, (0,))))  # nothing recorded: nothing said
