"""The scale benchmark's model (benchmarks/scale/model.py): hop counts, the fit, and predictions that follow N."""

from __future__ import annotations

import math

import pytest

from benchmarks.scale.model import _lstsq2, beam_rounds, build_model, finds_per_lookup, per_key


def test_lookups_visit_every_node_of_a_small_swarm_and_grow_with_log_n() -> None:
    assert finds_per_lookup(4, "ours") == 3 and finds_per_lookup(8, "ours") == 5
    assert finds_per_lookup(16, "reference") == 15  # the reference's beam of 20 visits everyone up to 21 nodes
    assert beam_rounds(10_000) == pytest.approx(math.log(10_000) / math.log(20))
    assert beam_rounds(10_000, pessimistic=True) == pytest.approx(1 + math.log2(500))
    assert finds_per_lookup(10_000, "ours") < finds_per_lookup(10_000, "ours", pessimistic=True) < 60


def test_keys_hold_a_bounded_number_of_entries_when_shards_grow_with_n() -> None:
    assert {per_key(n, "announcements") for n in (8, 16, 32, 10_000)} == {8.0}
    assert {per_key(n, "records") for n in (4, 8, 32, 10_000)} == {4.0}
    assert per_key(10_000, "reference") == 10_000


def test_the_cpu_fit_recovers_its_coefficients_and_stays_non_negative() -> None:
    rows = [(0.002 * r + 1e-7 * b, r, b) for r, b in [(10, 1e5), (30, 2e5), (50, 1e6), (80, 5e5)]]
    a, b = _lstsq2(rows)
    assert a == pytest.approx(0.002) and b == pytest.approx(1e-7)
    assert min(_lstsq2([(1.0, 10, 0), (0.0, 0, 10)])) >= 0


def _row(n: int, pattern: str) -> dict:
    """A measured row shaped like the driver's, with costs that follow the structure the model assumes."""
    f = finds_per_lookup(n, pattern)
    fan = min(8, n - 1)
    by = {"parts": {"find": f, "store": min(5, n - 1), "b_find": 200 * f, "b_store": 33_000 * min(5, n - 1),
                    "fetch": fan, "b_fetch": 33_000 * fan, "n_neighbours": f * min(20, n - 2)},
          "pushes": {"push": fan, "b_push": 400 * fan}}
    return {"n": n, "pattern": pattern, "by_category": by, "values": {"parts": {"stores": 1, "gets": 0}},
            "idle_cpu_s_per_window": 0.01, "node_rounds": [[0.01 + 0.001 * (f + 5 + 2 * fan), f + 5 + 2 * fan, 1e5]],
            "read": 0, "written": 0, "cpu_s": 0.0, "rpcs_sent": 0, "rpcs_served": 0}


def test_predictions_reproduce_the_structure_and_stay_flat_past_the_fanout() -> None:
    model = build_model([_row(4, "ours"), _row(8, "ours")], calibrate_on=[4, 8])
    ours = model["predict"]["ours"]
    assert ours["8"]["by_category"]["pushes"]["rpcs"] == pytest.approx(7)
    assert ours["32"]["by_category"]["pushes"]["rpcs"] == pytest.approx(8)
    assert ours["10000"]["bytes"] < 1.2 * ours["32"]["bytes"]  # fanout and replicas are capped: lookups alone grow
    assert ours["10000"]["bytes"] == pytest.approx(ours["10000"]["read"] * 2)
    assert "Lookup length" in model["assumptions"]
