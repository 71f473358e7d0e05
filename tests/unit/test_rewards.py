"""Rewards: answer extraction, the generator's own scorer, the format reward and their weighting."""

from __future__ import annotations

import inspect

import pytest

from node.config import RewardsConfig, TasksConfig
from node.rewards import accuracy_reward, build_reward_fn, extract_answer, format_reward
from node.tasks import TaskSource
from node.types import Task


@pytest.fixture(scope="module")
def task() -> Task:
    task = TaskSource(TasksConfig()).draw("p", 0, 1)[0]
    assert task.answer == "9"
    return task


@pytest.mark.parametrize(("completion", "answer"), [
    ("9", "9"),
    ("  9 \n", "9"),
    ("let me think\n4 + 5\n9", "9"),
    ("<think>x</think><answer> 9 </answer>", "9"),
    ("<answer>1</answer> then <answer>9</answer>", "9"),
    ("The answer: 9\nthanks", "9"),
    ("answer is = 9", "9"),
    ("", None),
    ("<answer>  </answer>", None),
])
def test_extract_answer(completion: str, answer: str | None) -> None:
    assert extract_answer(completion) == answer


def test_accuracy_uses_the_generators_scorer(task: Task) -> None:
    # chain_sum's scorer accepts "9.0" and "+9": the scorer is reused, not re-implemented
    assert accuracy_reward(task, ["9", "9.0", "+9", "8", "nine", ""]) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_format_reward() -> None:
    assert format_reward(["9", "<answer>9</answer>", "Answer: 9", "a\nb", "<b>9", "   "]) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(("weight", "expected"), [(0.0, [1.0, 1.0, 0.0]), (0.2, [1.0, 0.8, 0.2]), (1.0, [1.0, 0.0, 1.0])])
def test_weighting(task: Task, weight: float, expected: list[float]) -> None:
    rewards = build_reward_fn(RewardsConfig(format_weight=weight))(task, ["9", "hmm\n9", "7"])
    assert rewards == pytest.approx(expected)
    assert all(0.0 <= r <= 1.0 for r in rewards)


def test_reward_never_sees_the_producer() -> None:
    params = list(inspect.signature(build_reward_fn(RewardsConfig())).parameters)
    assert params == ["task", "completions"]
