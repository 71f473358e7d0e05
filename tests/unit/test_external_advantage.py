"""`algorithm.external_advantage: positive`: peers' failures never get a negative advantage."""

from __future__ import annotations

import torch

from node.algorithms.base import positive_for_external
from node.types import ScoredGroup, Task
from protocol import TaskRef


def _group(source: str) -> ScoredGroup:
    task = Task(TaskRef("chain_sum", {}, 0, 0), "1 + 1 =", "2")
    return ScoredGroup(task, ("2", "3"), (1.0, 0.0), source=source)


def test_only_external_negative_advantages_are_zeroed() -> None:
    groups = [_group("local"), _group("swpeer")]
    group_index = torch.tensor([0, 0, 1, 1])
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert positive_for_external(advantages, groups, group_index).tolist() == [1.0, -1.0, 1.0, 0.0]


def test_all_local_is_unchanged() -> None:
    groups = [_group("local")]
    advantages = torch.tensor([0.5, -0.5])
    assert torch.equal(positive_for_external(advantages, groups, torch.tensor([0, 0])), advantages)
