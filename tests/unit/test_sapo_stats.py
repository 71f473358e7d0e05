"""The SAPO table's statistics: the hierarchical bootstrap over builds, then seeds (benchmarks.sapo.stats)."""

from __future__ import annotations

import math

from benchmarks.sapo.stats import bootstrap_ci, hierarchical_bootstrap, hierarchical_summary


def test_equal_values_give_a_point_interval() -> None:
    assert hierarchical_bootstrap({0: [1.3, 1.3], 1: [1.3, 1.3, 1.3]}) == (1.3, 1.3)


def test_too_few_values_give_no_interval() -> None:
    low, high = hierarchical_bootstrap({0: [1.2], 1: []})
    assert math.isnan(low) and math.isnan(high)


def test_between_build_spread_widens_the_interval_over_a_seed_bootstrap() -> None:
    """Three builds that disagree (means 1.0, 1.5, 2.0) with tight seeds: resampling builds must show it, a
    bootstrap that pools every (build, seed) as independent does not."""
    units = {b: [centre + 0.01 * s for s in range(10)] for b, centre in enumerate((1.0, 1.5, 2.0))}
    pooled = [v for values in units.values() for v in values]
    low, high = hierarchical_bootstrap(units, rng_seed=1)
    flat_low, flat_high = bootstrap_ci(pooled, rng_seed=1)
    assert low < 1.2 and high > 1.8  # about the range of the three build means
    assert high - low > 2.5 * (flat_high - flat_low)
    assert low <= sum(pooled) / len(pooled) <= high


def test_one_seed_per_build_resamples_builds_only() -> None:
    low, high = hierarchical_bootstrap({0: [1.0], 1: [2.0]}, resamples=2000)
    assert (low, high) == (1.0, 2.0)  # the means of resampled builds: 1.0, 1.5 or 2.0


def test_summary_groups_units_by_build() -> None:
    summary = hierarchical_summary({(0, 0): 1.2, (0, 1): 0.8, (1, 0): 1.5, (2, 0): 1.1})
    assert summary["mean"] == 1.15 and summary["n"] == 4 and summary["above_1"] == 3
    assert summary["per_build"] == {"0": [1.2, 0.8], "1": [1.5], "2": [1.1]}
    assert summary["build_means"] == {"0": 1.0, "1": 1.5, "2": 1.1}
    low, high = summary["ci95"]
    assert 0.8 <= low < summary["mean"] < high <= 1.5
