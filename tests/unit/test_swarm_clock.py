"""The swarm clock estimator: median of own clock and peers within tolerance, outliers keep their own clock."""

from __future__ import annotations

import time

import pytest

from protocol.clock import injected_skew, now
from swarm.transports.hivemind.swarm_clock import SwarmClock, TimeSample

TRUE_START = 1_700_000_000.0


class FakeTime:
    """True time moves only when a test says so; the node's wall clock is true time + skew, monotonic is not skewed."""

    def __init__(self, skew: float = 0.0) -> None:
        self.true, self.skew, self.mono = TRUE_START, skew, 100.0

    def wall(self) -> float:
        return self.true + self.skew

    def monotonic(self) -> float:
        return self.mono

    def advance(self, s: float) -> None:
        self.true += s
        self.mono += s


def sample(t: FakeTime, peer_skew: float, rtt: float = 0.02) -> TimeSample:
    """A peer whose clock is true time + ``peer_skew`` answers in the middle of a round trip of ``rtt``."""
    sent, sent_mono = t.wall(), t.monotonic()
    t.advance(rtt / 2)
    peer_time = t.true + peer_skew
    t.advance(rtt / 2)
    return TimeSample(peer_time, sent, t.wall(), sent_mono, t.monotonic())


def clock_at(skew: float, max_skew: float = 60.0) -> tuple[FakeTime, SwarmClock]:
    t = FakeTime(skew)
    return t, SwarmClock(max_skew, wall=t.wall, monotonic=t.monotonic)


def test_uncorrected_until_samples_arrive():
    t, clock = clock_at(40.0)
    assert clock() == t.wall() and not clock.corrected
    clock.update([])
    assert clock() == t.wall() and not clock.corrected


def test_skewed_node_follows_the_median_of_its_peers():
    t, clock = clock_at(40.0)
    clock.update([sample(t, 0.0), sample(t, 0.0), sample(t, 0.0), sample(t, 30.0)])
    assert clock.corrected and not clock.outlier
    assert clock() == pytest.approx(t.true, abs=1e-6)
    assert clock.skew() == pytest.approx(40.0, abs=1e-6)
    t.advance(7.0)
    assert clock() == pytest.approx(t.true, abs=1e-6)


def test_samples_beyond_tolerance_are_ignored():
    t, clock = clock_at(0.0)
    clock.update([sample(t, 262.0), sample(t, -262.0), sample(t, 262.0), sample(t, 0.0)])
    assert clock() == pytest.approx(t.true, abs=1e-6)
    assert clock.peers_used == 1


def test_outlier_keeps_its_own_clock():
    t, clock = clock_at(262.0)
    clock.update([sample(t, 0.0), sample(t, 0.0), sample(t, 40.0)])
    assert clock.outlier and not clock.corrected
    assert clock() == t.wall()


def test_own_vote_makes_two_nodes_meet_half_way():
    t, a = clock_at(0.0)
    b_time, b = clock_at(40.0)
    a.update([sample(t, 40.0)])
    b.update([sample(b_time, 0.0)])
    assert a() == pytest.approx(t.true + 20.0, abs=1e-6)
    assert b() == pytest.approx(b_time.true + 20.0, abs=1e-6)


def test_a_minority_of_liars_within_tolerance_moves_nothing():
    t, clock = clock_at(0.0)
    clock.update([sample(t, 0.0), sample(t, 0.0), sample(t, 59.0), sample(t, -59.0), sample(t, 59.0)])
    assert clock() == pytest.approx(t.true, abs=1e-6)


def test_swinging_wall_clock_does_not_move_swarm_time():
    t, clock = clock_at(30.0)
    clock.update([sample(t, 0.0), sample(t, 0.0), sample(t, 0.0)])
    for skew in (-30.0, 30.0, -30.0):
        t.skew = skew
        t.advance(5.0)
        assert clock() == pytest.approx(t.true, abs=1e-6)


def test_swarm_time_stays_within_tolerance_of_own_clock():
    t, clock = clock_at(50.0)
    clock.update([sample(t, 0.0), sample(t, 0.0)])
    assert clock() == pytest.approx(t.true, abs=1e-6)
    t.skew = 100.0  # the wall clock jumps after the estimate
    assert clock() == pytest.approx(t.wall() - 60.0)


def test_injected_swing_is_a_square_wave(monkeypatch):
    monkeypatch.setenv("SAPO_CLOCK_OFFSET", "5")
    monkeypatch.setenv("SAPO_CLOCK_SWING", "30:5")
    assert injected_skew(0.0) == 35.0 and injected_skew(4.9) == 35.0
    assert injected_skew(5.0) == -25.0 and injected_skew(10.0) == 35.0
    monkeypatch.delenv("SAPO_CLOCK_SWING")
    monkeypatch.delenv("SAPO_CLOCK_OFFSET")
    assert injected_skew(12.0) == 0.0 and abs(now() - time.time()) < 1.0
