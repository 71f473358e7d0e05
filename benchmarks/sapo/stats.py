"""Paired statistics of the SAPO table: per-seed ratios against a baseline and bootstrap intervals.

    >>> ratio_summary([1.2, 1.1, 0.9], rng_seed=0)["mean"]
    1.0667

A ratio is cum(config, seed) / cum(baseline, seed) with both runs under the same seed (the same
question stream and generation seeds per node), so question difficulty cancels in each ratio. The
interval is a percentile bootstrap over seeds of the mean ratio (10,000 resamples). With few seeds
the interval is optimistic; the per-seed ratios are reported beside it. Over several warm-start builds
the interval is hierarchical (`hierarchical_bootstrap`): builds, then seeds within builds.
"""

from __future__ import annotations

import random
from statistics import mean
from typing import Any, Mapping, Sequence

import numpy as np

RESAMPLES = 10_000


def bootstrap_ci(values: Sequence[float], rng_seed: int = 0, resamples: int = RESAMPLES) -> tuple[float, float]:
    """95% percentile interval of the mean of `values`, resampling with replacement."""
    if len(values) < 2:
        return (float("nan"), float("nan"))
    rng = random.Random(rng_seed)
    means = sorted(mean(rng.choices(values, k=len(values))) for _ in range(resamples))
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def hierarchical_bootstrap(units: Mapping[int, Sequence[float]], rng_seed: int = 0,
                           resamples: int = RESAMPLES) -> tuple[float, float]:
    """95% percentile interval of the mean over all values of `units` (build -> its seeds' values): each
    resample draws the builds with replacement, then, within each drawn build, its seeds with replacement.

    With one build this is the seed bootstrap; with one seed per build it resamples builds only.

    >>> low, high = hierarchical_bootstrap({0: [1.0, 1.2], 1: [0.9, 1.1], 2: [1.3, 1.4]})
    >>> 0.9 < low < 1.15 < high < 1.4
    True
    """
    builds = [list(values) for values in units.values() if len(values)]
    if sum(map(len, builds)) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(rng_seed)
    sizes = np.array([len(b) for b in builds])
    table = np.full((len(builds), sizes.max()), np.nan)
    for i, values in enumerate(builds):
        table[i, :len(values)] = values
    drawn = rng.integers(0, len(builds), size=(resamples, len(builds)))  # builds, with replacement
    n = sizes[drawn]  # [R, B] seeds of each drawn build
    picks = np.floor(rng.random((resamples, len(builds), sizes.max())) * n[:, :, None]).astype(int)
    used = np.arange(sizes.max())[None, None, :] < n[:, :, None]  # a build with fewer seeds draws fewer
    values = np.where(used, table[drawn[:, :, None], picks], 0.0)
    means = np.sort(values.sum(axis=(1, 2)) / used.sum(axis=(1, 2)))
    return float(means[int(0.025 * resamples)]), float(means[int(0.975 * resamples) - 1])


def hierarchical_summary(ratios: Mapping[tuple[int, int], float], rng_seed: int = 0) -> dict[str, Any]:
    """Mean of per-(build, seed) paired ratios, its hierarchical bootstrap interval, per-unit values."""
    by_build: dict[int, list[float]] = {}
    for (build, _seed), value in sorted(ratios.items()):
        by_build.setdefault(build, []).append(value)
    low, high = hierarchical_bootstrap(by_build, rng_seed)
    values = list(ratios.values())
    return {"mean": round(mean(values), 4), "ci95": [round(low, 4), round(high, 4)],
            "per_build": {str(b): [round(v, 4) for v in vs] for b, vs in by_build.items()},
            "build_means": {str(b): round(mean(vs), 4) for b, vs in by_build.items()},
            "above_1": sum(v > 1 for v in values), "n": len(values)}


def ratio_summary(ratios: Sequence[float], rng_seed: int = 0) -> dict[str, Any]:
    """Mean paired ratio, its bootstrap interval, the per-seed ratios and how many exceed 1."""
    low, high = bootstrap_ci(ratios, rng_seed)
    return {"mean": round(mean(ratios), 4), "ci95": [round(low, 4), round(high, 4)],
            "per_seed": [round(r, 4) for r in ratios], "above_1": sum(r > 1 for r in ratios), "n": len(ratios)}


def paired_ratios(values: dict[int, float], baseline: dict[int, float]) -> list[float]:
    """value / baseline for every seed both have (baseline > 0)."""
    return [values[s] / baseline[s] for s in sorted(values) if s in baseline and baseline[s] > 0]


def fmt_ratio(summary: dict[str, Any] | None, missing: str = "baseline", above: str = ">1") -> str:
    """'1.23x [1.10, 1.40] (8/9>1)'; the interval is left out when it is undefined (one unit)."""
    if summary is None:
        return missing
    low, high = summary["ci95"]
    interval = "" if low != low else f" [{low:.2f}, {high:.2f}]"
    return f"{summary['mean']:.2f}x{interval} ({summary['above_1']}/{summary['n']}{above})"


def format_table(title: str, rows: list[dict[str, Any]]) -> str:
    """The paper-style table of one block as fixed-width text."""
    head = (f"{'configuration':<24} {'n':>2} {'cum. reward':>11} {'vs isolation (95% CI)':>30} {'kept/upd':>8} "
            f"{'CPU s':>8} {'rew/CPU-s':>9} {'rew/CPU-s vs iso':>24} {'vs 8/8 uniform':>26}")
    lines = [title, head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['label']:<24} {len(row['seeds']):>2} {row['cumulative_reward']:>11.1f} {fmt_ratio(row['vs_isolation']):>30} "
            f"{row['kept_per_update']:>8.2f} {row['cpu_s']:>8.1f} {row['reward_per_cpu_s']:>9.3f} "
            f"{fmt_ratio(row['per_cpu_vs_isolation']):>24} {fmt_ratio(row.get('vs_uniform')) if row.get('vs_uniform') else '':>26}")
    return "\n".join(lines)
