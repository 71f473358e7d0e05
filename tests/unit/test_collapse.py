"""The collapse guard: the detector on synthetic reward series, and the rollback on a tiny node."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
import torch

from node.algorithms import build_algorithm
from node.checkpoint import load_checkpoint
from node.collapse import BEST_NAME, CollapseDetector
from node.config import NodeConfig
from node.health import HealthFile
from node.policy import Policy
from node.round import Node
from node.tasks import build_task_source
from protocol import Identity


def feed(detector: CollapseDetector, series: list[float]) -> list[str]:
    return [detector.observe(x, None) for x in series]


def noisy(mean: float, n: int, seed: int, sd: float = 0.06) -> list[float]:
    rng = random.Random(seed)
    return [min(1.0, max(0.0, rng.gauss(mean, sd))) for _ in range(n)]


# ------------------------------------------------------------------ the detector, on synthetic series


def test_rise_then_sustained_fall_is_one_collapse() -> None:
    rise = [0.2 + 0.3 * i / 400 for i in range(400)]
    fall = [0.5 - 0.4 * min(1.0, i / 200) for i in range(600)]
    events = feed(CollapseDetector(window=100, drop=0.3), rise + fall)
    collapses = [i for i, e in enumerate(events) if e == "collapse"]
    assert collapses, "a fall from 0.5 to 0.1 went unnoticed"
    assert 400 < collapses[0] < 400 + 250, collapses[0]  # noticed within the fall, not at its end
    gaps = [b - a for a, b in zip(collapses, collapses[1:])]
    assert all(gap >= 100 + 50 - 1 for gap in gaps), gaps  # each needs a new full window, then half a window below


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_noisy_plateau_is_not_a_collapse(seed: int) -> None:
    events = feed(CollapseDetector(window=100, drop=0.3), noisy(0.5, 3000, seed))
    assert "collapse" not in events


def test_a_short_dip_is_not_a_collapse() -> None:
    series = [0.5] * 300 + [0.1] * 30 + [0.5] * 300
    assert "collapse" not in feed(CollapseDetector(window=100, drop=0.3), series)


def test_a_fall_from_a_tiny_peak_is_noise() -> None:
    series = [0.04] * 200 + [0.0] * 400
    assert "collapse" not in feed(CollapseDetector(window=100, drop=0.3), series)


def test_a_slow_decline_is_caught() -> None:
    series = [0.5] * 200 + [0.5 - 0.3 * i / 1000 for i in range(1000)]
    events = feed(CollapseDetector(window=100, drop=0.3), series)
    assert "collapse" in events


def late_fall(seed: int) -> list[float]:
    """The shape of the first full soak's failing node (seed 2, node 1): a rise to ~0.8 over 1,600 rounds, then a
    fall to ~0.45 in the last 250 of 2,000, with its per-round noise (sd 0.12 around the moving average)."""
    means = [0.35 + 0.45 * i / 1600 for i in range(1600)] + [0.78] * 150 + [0.78 - 0.33 * i / 250 for i in range(250)]
    rng = random.Random(seed)
    return [min(1.0, max(0.0, rng.gauss(m, 0.12))) for m in means]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_default_guard_acts_on_a_late_fall_before_the_run_ends(seed: int) -> None:
    from node.config import RoundConfig

    defaults = RoundConfig()
    events = feed(CollapseDetector(defaults.collapse_window, defaults.collapse_drop), late_fall(seed))
    assert "collapse" in events[1750:], "the default guard let a node end far under its peak"
    # at the old default (30% below the peak) the same fall ended the run unanswered
    assert "collapse" not in feed(CollapseDetector(defaults.collapse_window, 0.3), late_fall(seed))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("level", [0.3, 0.5, 0.7])
def test_the_default_guard_leaves_a_noisy_plateau_alone(seed: int, level: float) -> None:
    from node.config import RoundConfig

    defaults = RoundConfig()
    series = [min(1.0, max(0.0, x)) for x in noisy(level, 3000, seed, sd=0.12)]
    assert "collapse" not in feed(CollapseDetector(defaults.collapse_window, defaults.collapse_drop), series)


def test_detector_state_round_trips() -> None:
    a = CollapseDetector(window=10, drop=0.3)
    feed(a, [0.5] * 20 + [0.2] * 3)
    b = CollapseDetector(window=10, drop=0.3)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert feed(a, [0.2] * 10) == feed(b, [0.2] * 10)


# ------------------------------------------------------------------ the rollback, on a tiny node


class ScriptedReward:
    """Rewards that do not depend on the text: `share` of each group's completions score 1 (so groups keep a
    signal and the node keeps training)."""

    def __init__(self) -> None:
        self.share = 0.5

    def __call__(self, task, texts) -> list[float]:
        right = round(self.share * len(texts))
        return [1.0] * right + [0.0] * (len(texts) - right)


def tiny_node(model_config, tmp_path: Path, reward: ScriptedReward, rollback: bool) -> Node:
    cfg = NodeConfig.model_validate({
        "model": model_config.model_dump(), "sampler": {"local_i": 2, "external_j": 0, "completions_l": 6},
        "round": {"rounds": 100, "checkpoint_every": 1, "collapse_window": 6, "collapse_drop": 0.3,
                  "rollback_on_collapse": rollback, "collapse_lr_factor": 0.5},
    })
    policy = Policy.load(cfg.model)
    return Node(cfg, Identity.from_seed(b"guarded"), policy, build_task_source(cfg.tasks), reward,
                build_algorithm(cfg.algorithm, policy), None, checkpoint_dir=tmp_path / "ckpt",
                health=HealthFile(tmp_path / "health.json"))


def weights(node: Node) -> list[torch.Tensor]:
    return [p.detach().clone() for p in node.policy.parameters()]


def test_collapse_restores_the_best_state_and_lowers_the_lr(tiny_model_config, tmp_path: Path) -> None:
    reward = ScriptedReward()
    node = tiny_node(tiny_model_config, tmp_path, reward, rollback=True)
    asyncio.run(node.run(12))  # 0.5 for 12 rounds: the first full window (round 6) is the peak
    best = load_checkpoint(tmp_path / "ckpt", name=BEST_NAME)
    assert best is not None and best["round"] == 6
    reward.share = 1 / 6  # the fall: still a signal in every group, so training goes on moving the weights
    rows = []
    while not any(r["rollback"] for r in rows) and len(rows) < 20:
        before = weights(node)
        rows.append(asyncio.run(node.step()))
    rollback = rows[-1]["rollback"]
    assert rollback is not None, "no rollback in 20 rounds of a fall from 0.5 to 0.17"
    assert rollback["restored_round"] == 6 and rollback["lr_before"] == pytest.approx(3e-4)
    assert rollback["lr_after"] == pytest.approx(1.5e-4)
    assert node.algorithm.optimizer.param_groups[0]["lr"] == pytest.approx(1.5e-4)
    restored = [t for t in best["policy"].values()]
    assert all(torch.equal(a, b) for a, b in zip(node.policy.state_dict().values(), restored))
    assert any(not torch.equal(a, b) for a, b in zip(before, weights(node))), "the rollback changed nothing"
    health = json.loads((tmp_path / "health.json").read_text())
    assert health["collapse"]["rollback_count"] == 1 and health["collapse"]["lr"] == pytest.approx(1.5e-4)

    again = tiny_node(tiny_model_config, tmp_path, reward, rollback=True)  # a restart keeps what the guard knew
    assert again.restore()
    assert again.guard.detector.peak == pytest.approx(0.5) and len(again.guard.rollbacks) == 1
    assert again.algorithm.optimizer.param_groups[0]["lr"] == pytest.approx(1.5e-4)


def test_without_rollback_the_guard_only_warns(tiny_model_config, tmp_path: Path, caplog) -> None:
    reward = ScriptedReward()
    node = tiny_node(tiny_model_config, tmp_path, reward, rollback=False)
    asyncio.run(node.run(8))
    reward.share = 1 / 6
    with caplog.at_level("WARNING", logger="node.collapse"):
        rows = [asyncio.run(node.step()) for _ in range(10)]
    assert not any(r["rollback"] for r in rows)
    assert any("reward collapse" in r.getMessage() and "rollback_on_collapse is off" in r.getMessage()
               for r in caplog.records)
    assert node.algorithm.optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)
