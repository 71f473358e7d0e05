"""Staleness: a batch carries its sender's round (protocol 1.2, optional), intake stamps each group's
origin, the pool measures ages and drops groups past `max_age_windows`."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from node.config import RewardsConfig, SamplerConfig, TasksConfig
from node.intake import rescore_external
from node.rewards import build_reward_fn
from node.sampler import ExternalPool
from node.tasks import TaskSource
from node.types import GroupOrigin, ScoredGroup, Task
from protocol import Identity, ProtocolError, decode, encode
from protocol.messages import Completion, RolloutBatch, RolloutGroup, TaskRef
from tests.unit.protocol_factories import make_batch

ME = Identity.from_seed(b"staleness")


def test_the_senders_round_round_trips_and_is_left_out_when_unknown() -> None:
    batch = dataclasses.replace(make_batch(ME), round=41)
    assert decode(encode(batch)).round == 41
    unknown = make_batch(ME)
    assert "round" not in msgpack.unpackb(encode(unknown), raw=False)["b"]  # encodes as before 1.2
    assert decode(encode(unknown)).round is None


def test_a_1_1_record_without_a_round_still_decodes() -> None:
    raw = msgpack.unpackb(encode(make_batch(ME)), raw=False)
    raw["v"] = [1, 1]
    msg = decode(msgpack.packb(raw, use_bin_type=True))
    assert msg.round is None and msg.version == (1, 1) and msg.groups == make_batch(ME).groups


@pytest.mark.parametrize("bad", [-1, "3", 1.5, 2**62])
def test_a_bad_round_is_a_verdict(bad: object) -> None:
    raw = msgpack.unpackb(encode(make_batch(ME)), raw=False)
    raw["b"]["round"] = bad
    with pytest.raises(ProtocolError, match="round"):
        decode(msgpack.packb(raw, use_bin_type=True))


def test_intake_stamps_window_and_round() -> None:
    tasks = TaskSource(TasksConfig())
    ref = tasks.draw_refs("p", 0, 1)[0]
    group = RolloutGroup(ref, tasks.rebuild(ref).question, (Completion("9", 1, 1.0), Completion("1", 1, 0.0)))
    batch = RolloutBatch("s", "peer", "m", 1.7e9, 77, "b", (group,), round=5)
    groups, _ = rescore_external([batch], tasks, build_reward_fn(RewardsConfig()))
    assert groups[0].origin == GroupOrigin(window=77, sender_round=5)


def aged(index: int, window: int, sender_round: int | None, source: str = "peer") -> ScoredGroup:
    return ScoredGroup(Task(TaskRef("toy", index=index), "q", "a"), ("x", "y"), (1.0, 0.0), source,
                       GroupOrigin(window, sender_round))


def test_the_pool_drops_groups_past_the_bound_and_keeps_order() -> None:
    pool = ExternalPool(max_groups=16, max_age_windows=3)
    pool.add([aged(0, 10, 1), aged(1, 12, 3), aged(2, 14, 5), aged(3, 15, 6)])
    assert pool.drop_stale(window=15) == 1  # window 10 is 5 old
    assert [g.task.ref.index for g in pool] == [1, 2, 3]
    assert pool.drop_stale(window=15) == 0
    assert pool.drop_stale(window=18) == 2 and [g.task.ref.index for g in pool] == [3]


def test_without_a_bound_nothing_is_dropped_and_ages_are_measured() -> None:
    pool = ExternalPool(max_groups=16)
    groups = [aged(0, 10, 1, "a"), aged(1, 12, 4, "a"), aged(2, 14, None, "b"), ScoredGroup(
        Task(TaskRef("toy", index=3), "q", "a"), ("x", "y"), (1.0, 0.0), "c")]
    pool.add(groups)
    assert pool.drop_stale(window=1000) == 0 and len(pool) == 4
    stats = pool.ages(groups, window=14)
    assert (stats.windows_mean, stats.windows_max) == (pytest.approx((4 + 2 + 0) / 3), 4)
    assert (stats.rounds_mean, stats.rounds_max) == (1.5, 3)  # a's newest round is 4: 3 and 0 rounds old
    assert pool.ages([], window=14).windows_max is None


def test_the_pool_is_bounded_and_forgets_senders_it_no_longer_holds() -> None:
    pool = ExternalPool(max_groups=2)
    pool.add([aged(0, 1, 1, "a"), aged(1, 1, 1, "b"), aged(2, 1, 1, "c")])
    assert [g.task.ref.index for g in pool] == [1, 2]
    pool.consume(list(pool))
    assert len(pool) == 0 and pool.newest_round == {}


def test_max_age_windows_is_a_bounded_option() -> None:
    assert SamplerConfig().max_age_windows is None
    assert SamplerConfig(max_age_windows=6).max_age_windows == 6
    with pytest.raises(ValueError, match="max_age_windows"):
        SamplerConfig(max_age_windows=-1)
