"""Rewards: this node's verifier, a pure function of (task, completions) in [0, 1].

A reward never sees who produced a completion: local and external completions go through the same
function, and a sender's own rewards are never an input.

    >>> from node.config import RewardsConfig, TasksConfig
    >>> from node.tasks import TaskSource
    >>> task = TaskSource(TasksConfig()).draw("p", 0, 1)[0]
    >>> build_reward_fn(RewardsConfig(format_weight=0.5))(task, ["9", "It is 9\\nreally", "8"])
    [1.0, 0.0, 0.5]

References: TRL `trl/rewards/` (one pure function per reward, combined by weight).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from node.config import RewardsConfig
from node.rewards.accuracy import accuracy_reward, extract_answer
from node.rewards.format import format_reward
from node.types import Task

RewardFn = Callable[[Task, Sequence[str]], list[float]]


def build_reward_fn(config: RewardsConfig) -> RewardFn:
    """(1 - format_weight) * accuracy + format_weight * format, per completion."""
    weight = config.format_weight

    def reward(task: Task, completions: Sequence[str]) -> list[float]:
        accuracy = accuracy_reward(task, completions)
        if weight == 0.0:
            return accuracy
        form = format_reward(completions)
        return [(1.0 - weight) * a + weight * f for a, f in zip(accuracy, form)]

    return reward


__all__ = ["RewardFn", "accuracy_reward", "build_reward_fn", "extract_answer", "format_reward"]
