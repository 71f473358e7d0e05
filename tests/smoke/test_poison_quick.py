"""Smoke test of the poisoning benchmark (`python -m benchmarks.poison --smoke`), and the attacks' own claims:
each poisoned text earns the reward the attack table says from the receiver's real verifier, and the shape
defence flags every one of them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def test_poisoned_texts_earn_the_reward_the_attack_table_claims() -> None:
    from benchmarks.poison.attacks import ATTACKS, DETECTORS, poison_text, wrong_answer
    from node.config import RewardsConfig, TasksConfig
    from node.defences.shape import ShapeDefence
    from node.rewards import build_reward_fn
    from node.tasks import TaskSource
    from node.types import ScoredGroup

    reward, rng = build_reward_fn(RewardsConfig()), random.Random(0)
    full_credit = {"b_prefix", "c_pad", "d_step"}
    for task in TaskSource(TasksConfig()).draw("smoke", 0, 30):
        texts = [poison_text(a, task.answer, wrong_answer(task.answer, rng)) for a in ATTACKS]
        scores = reward(task, texts)
        for attack, text, score in zip(ATTACKS, texts, scores):
            assert (score == 1.0) == (attack in full_credit) and score > 0.0, (attack, text, score)
            assert DETECTORS.get(attack, lambda t: True)(text)
        flags = ShapeDefence(None, max_tokens=64).inspect([ScoredGroup(task, tuple(texts), tuple(scores), "p")])
        assert all(flags[0]), (texts, flags)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_poison_quick_writes_table_json_and_plot(tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    out = tmp_path / "poison.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.poison", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=280, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "b_prefix 2/8 positive, shape+trust" in proc.stdout and "targets:" in proc.stdout
    report = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    assert report["provenance"]["command"].startswith("python -m benchmarks.poison --smoke")
    (block,) = report["blocks"]
    assert [a["label"] for a in block["arms"]] == ["control positive, undefended", "b_prefix 2/8 positive, undefended",
                                                     "b_prefix 2/8 positive, shape+trust"]
    control, undefended, defended = block["arms"]
    for arm in block["arms"]:
        assert "attack_success" in arm and 0.0 <= arm["attack_success"]["last_20_rounds"] <= 1.0
        assert len(arm["curve"]) == 3 and arm["cumulative_reward"] > 0
    assert undefended["poisoner_screen"]["poisoned_kept"] == 1.0  # nothing stops it
    assert defended["poisoner_screen"]["poisoned_kept"] == 0.0  # the shape check stops every poisoned completion
    assert defended["defence_counts"]["shape"]["extra_text"] > 0 and defended["defence_cpu_share"] > 0
    assert control["honest_screen"]["groups_lost"] == 0.0


@pytest.mark.timeout(120)
def test_shape_probe_measures_a_models_own_completions() -> None:
    from benchmarks.poison.shape_probe import probe

    report = probe("tiny-0.5m", rounds=1)
    assert report["completions"] == 8 * 16 and sum(report["by_reason"].values()) == report["completions"]
    assert report["flagged_share_of_rewarded"] < 0.2  # a tiny model answers bare: its own answers pass
    assert all(e["text"][0] in "'\"" for e in report["examples"])  # escaped with ascii()
