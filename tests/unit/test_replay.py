"""Replay of a node's own past informative groups (`sampler.replay_groups`, `node.sampler.replay`): what the
buffer keeps, how selection takes from it, how the update learns from it, the config rule, and a real
isolated node filling its J slots from its own history."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import torch

from node.algorithms.base import positive_for_external
from node.config import SamplerConfig
from node.sampler import ReplayBuffer, select_groups
from node.sampler.replay import REPLAY_SOURCE, is_replayed
from node.types import ScoredGroup, Task
from protocol.messages import TaskRef
from tests.unit.test_node_round import make_node


def group(i: int, *rewards: float, source: str = "local") -> ScoredGroup:
    return ScoredGroup(Task(TaskRef("toy", index=i), f"q{i}", "a"), ("x",) * len(rewards), tuple(rewards), source)


def test_the_buffer_keeps_the_last_informative_groups_stamped_with_their_round() -> None:
    replay = ReplayBuffer(max_groups=3)
    replay.add([group(0, 1.0, 0.0), group(1, 0.0, 0.0)], window=5, round_index=0)
    replay.add([group(2, 0.0, 1.0), group(3, 1.0, 1.0), group(4, 1.0, 0.0), group(5, 0.0, 1.0)], window=6, round_index=1)
    assert [g.task.ref.index for g in replay] == [2, 4, 5]  # zero-advantage groups never enter; oldest leave first
    assert all(g.source == REPLAY_SOURCE and not g.is_local and g.origin.sender_round == 1 for g in replay)
    off = ReplayBuffer(max_groups=0)
    off.add([group(0, 1.0, 0.0)], window=5, round_index=0)
    assert len(off) == 0 and list(off) == []


def test_selection_takes_replayed_groups_for_j_and_the_buffer_keeps_them() -> None:
    replay = ReplayBuffer(max_groups=8)
    replay.add([group(i, 1.0, 0.0) for i in range(5)], window=0, round_index=0)
    local = [group(10, 0.0, 0.0), group(11, 0.0, 1.0)]
    sel = select_groups(local, list(replay), local_i=2, external_j=3, rng=random.Random(0))
    assert [g.task.ref.index for g in sel.local] == [11] and len(sel.external) == 3
    assert all(is_replayed(g) for g in sel.external) and len(replay) == 5  # chosen, still offered next round


def test_a_replayed_group_is_learned_from_by_the_external_rule() -> None:
    groups = [group(0, 1.0, 0.0), group(1, 1.0, 0.0, source=REPLAY_SOURCE)]
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    index = torch.tensor([0, 0, 1, 1])
    assert positive_for_external(advantages, groups, index).tolist() == [1.0, -1.0, 1.0, 0.0]


def test_replay_needs_j_slots_to_fill() -> None:
    with pytest.raises(ValueError, match="replay_groups is 32 but external_j is 0 under a fixed split"):
        SamplerConfig(local_i=16, external_j=0, replay_groups=32)
    assert SamplerConfig(local_i=8, external_j=8, replay_groups=32).replay_groups == 32
    assert SamplerConfig(local_i=16, external_j=0, replay_groups=32, split={"type": "fill"}).replay_groups == 32
    with pytest.raises(ValueError, match="replay_groups"):
        SamplerConfig(replay_groups=-1)


def test_an_isolated_node_fills_its_update_from_its_own_history(tiny_model_config, tmp_path: Path) -> None:
    sampler = {"local_i": 4, "external_j": 3, "completions_l": 6, "replay_groups": 5}
    node = make_node(tiny_model_config, "alone", tmp_path, overrides={"sampler": sampler})
    assert node.transport is None
    rows = [asyncio.run(node.step()) for _ in range(4)]
    assert rows[0]["replayed_groups"] == 0  # nothing to replay yet
    assert all(row["replay_size"] <= 5 for row in rows) and rows[-1]["replay_size"] > 0
    replaying = [row for row in rows if row["replayed_groups"]]
    assert replaying, [row["local_groups"] for row in rows]
    assert all(row["external_groups"] == row["replayed_groups"] <= 3 for row in rows)
    assert all(row["replay_age_rounds_mean"] >= 1 for row in replaying)
    assert all(row["kept_groups"] == row["local_groups"] + row["replayed_groups"] for row in rows)
