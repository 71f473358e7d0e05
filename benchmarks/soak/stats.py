"""The soak's statistics: moving averages, the per-node summary, the table and the plot.

    >>> moving_average([0.0, 1.0, 1.0, 1.0], 2)
    [0.0, 0.5, 1.0, 1.0]
    >>> node_summary([0.1] * 4 + [0.5] * 8 + [0.1] * 4, [None] * 16, window=4)["passed"]
    False
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

PASS_FRACTION = 0.8
"""A node passes when its final moving-average reward is at least this share of its peak."""


def moving_average(xs: list[float], window: int) -> list[float]:
    """Trailing mean over `window` values (shorter at the start)."""
    out, total = [], 0.0
    for i, x in enumerate(xs):
        total += x
        if i >= window:
            total -= xs[i - window]
        out.append(total / min(i + 1, window))
    return out


def eighths(xs: list[float]) -> list[float]:
    """Mean of each eighth of `xs`."""
    n = len(xs)
    return [sum(xs[i * n // 8:(i + 1) * n // 8]) / max(1, (i + 1) * n // 8 - i * n // 8) for i in range(8)]


def node_summary(rewards: list[float], entropy: list[float | None], window: int) -> dict[str, Any]:
    """Peak of the reward's moving average, where it was, where the run ends against it, eighths, pass."""
    ma = moving_average(rewards, window)
    full = ma[window - 1:] or ma
    peak = max(full)
    ent = [e for e in entropy if e is not None]
    return {"peak_ma": peak, "peak_round": ma.index(peak), "end_ma": ma[-1], "end_over_peak": ma[-1] / peak if peak else 1.0,
            "eighths": [round(x, 3) for x in eighths(rewards)],
            "entropy_eighths": [round(x, 3) for x in eighths(ent)] if len(ent) >= 8 else [],
            "passed": ma[-1] >= PASS_FRACTION * peak}


def from_log(path: Path, window: int = 100) -> dict[str, Any]:
    """A seed's series rebuilt from its --logs file (`soak-s<seed>.jsonl`, or gzipped as committed beside the result)."""
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    nodes = sorted({r["node"] for r in rows})
    per = {k: [r for r in rows if r["node"] == k] for k in nodes}
    result = {"seed": int(path.name.split(".")[0].rsplit("-s", 1)[1]), "wall_s": None, "cpu_s": None,
              "reward": [[r["reward_local"] for r in per[k]] for k in nodes],
              "entropy": [[r["entropy"] for r in per[k]] for k in nodes],
              "rollbacks": [[r["round"] for r in per[k] if r.get("rollback")] for k in nodes]}
    result["summary"] = [node_summary(r, e, window) for r, e in zip(result["reward"], result["entropy"])]
    return result


def table(results: list[dict]) -> str:
    """One line per node and seed: reward by eighths, peak and end of the moving average, entropy, rollbacks."""
    lines = [f"{'seed':>4} {'node':>4}  {'reward by eighths of the run':48} {'peak MA':>8} {'@round':>6} "
             f"{'end MA':>7} {'end/peak':>8}  {'entropy first->last':>19}  rollbacks  pass"]
    for result in results:
        for k, s in enumerate(result["summary"]):
            ent = f"{s['entropy_eighths'][0]:.2f} -> {s['entropy_eighths'][-1]:.2f}" if s["entropy_eighths"] else "-"
            lines.append(f"{result['seed']:>4} {k:>4}  {' '.join(f'{x:.3f}' for x in s['eighths']):48} {s['peak_ma']:8.3f} "
                         f"{s['peak_round']:>6} {s['end_ma']:7.3f} {s['end_over_peak']:8.2f}  {ent:>19}  "
                         f"{len(result['rollbacks'][k]):>9}  {'yes' if s['passed'] else 'NO'}")
    return "\n".join(lines)


def plot(results: list[dict], window: int, path: Path) -> None:
    """Reward and entropy moving averages per node, one column per seed; rollbacks as red lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5 * len(results), 6), squeeze=False, sharex=True)
    for col, result in enumerate(results):
        for k, (rewards, entropy) in enumerate(zip(result["reward"], result["entropy"])):
            axes[0][col].plot(moving_average(rewards, window), label=f"node{k}")
            ent = [e if e is not None else float("nan") for e in entropy]
            axes[1][col].plot(moving_average([e for e in ent if e == e] or [0.0], window), label=f"node{k}")
            for r in result["rollbacks"][k]:
                axes[0][col].axvline(r, color="red", alpha=0.3, lw=0.8)
        axes[0][col].set_title(f"seed {result['seed']}: reward ({window}-round MA)")
        axes[1][col].set_title("entropy (-log p of own sampled tokens, MA)")
        axes[1][col].set_xlabel("round")
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
