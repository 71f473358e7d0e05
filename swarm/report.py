"""Tables, ``summary.json`` and PNG plots from a run folder's ``metrics.jsonl`` files.

A run folder is what `swarm testnet` writes (``nodes/<name>/metrics.jsonl``), or one node's
``--out`` folder (``metrics.jsonl`` at its top), or a folder of such node folders (``swarm join
--gpus``). The row schema is documented in `node.metrics`.

    >>> summarize_node("n0", [{"round": 0, "reward_local": 0.25, "time": 10.0, "t_round": 2.0},
    ...                       {"round": 1, "reward_local": 0.75, "time": 12.0, "t_round": 2.0}]).mean_reward
    0.5
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from node.metrics import read_metrics

Rows = list[dict[str, Any]]


@dataclass
class NodeSummary:
    name: str
    peer_id: str | None
    model: str | None
    rounds: int
    first_reward: float | None
    last_reward: float | None
    mean_reward: float | None
    mean_reward_external: float | None
    external_groups: int
    peers_seen: int
    rejections: int
    wall_time_s: float | None


def node_dirs(run_dir: Path) -> dict[str, Path]:
    """Node name -> folder holding its metrics.jsonl (may not exist yet for a starting node)."""
    run_dir = Path(run_dir)
    if (run_dir / "nodes").is_dir():
        return {p.name: p for p in sorted((run_dir / "nodes").iterdir()) if p.is_dir()}
    if (run_dir / "metrics.jsonl").exists():
        return {run_dir.name: run_dir}
    return {p.name: p for p in sorted(run_dir.iterdir()) if (p / "metrics.jsonl").exists()}


def load_rows(run_dir: Path) -> dict[str, Rows]:
    dirs = node_dirs(run_dir)
    return {name: read_metrics(d / "metrics.jsonl") if (d / "metrics.jsonl").exists() else [] for name, d in dirs.items()}


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else None


def edge_window(rounds: int) -> int:
    """Rounds averaged for the "first" and "last" reward: a tenth of the run, 1 to 10 rounds."""
    return max(1, min(10, rounds // 10))


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over `window` values (shorter at the start)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def summarize_node(name: str, rows: Rows) -> NodeSummary:
    """One node's reward (mean of its first and last `edge_window` rounds, and over all rounds),
    rounds, wall time (first round start to last round end)."""
    rewards = [r.get("reward_local") for r in rows]
    edge = edge_window(len(rows))
    wall = None
    if rows and "time" in rows[0]:
        wall = rows[-1]["time"] - rows[0]["time"] + float(rows[0].get("t_round") or 0.0)
    last = rows[-1] if rows else {}
    return NodeSummary(
        name=name,
        peer_id=last.get("peer_id"),
        model=last.get("model"),
        rounds=len(rows),
        first_reward=_mean(rewards[:edge]),
        last_reward=_mean(rewards[-edge:]),
        mean_reward=_mean(rewards),
        mean_reward_external=_mean([r.get("reward_external") for r in rows]),
        external_groups=sum(int(r.get("external_groups") or 0) for r in rows),
        peers_seen=int(last.get("peers_seen") or 0),
        rejections=sum((last.get("rejections") or {}).values()),
        wall_time_s=wall,
    )


def summarize_run(rows_by_node: dict[str, Rows], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of summary.json: per node, plus totals over the swarm."""
    nodes = [summarize_node(name, rows) for name, rows in rows_by_node.items()]
    walls = [n.wall_time_s for n in nodes if n.wall_time_s is not None]
    totals = {
        "nodes": len(nodes),
        "rounds": sum(n.rounds for n in nodes),
        "mean_first_reward": _mean([n.first_reward for n in nodes]),
        "mean_last_reward": _mean([n.last_reward for n in nodes]),
        "mean_reward": _mean([n.mean_reward for n in nodes]),
        "external_groups": sum(n.external_groups for n in nodes),
        "rejections": sum(n.rejections for n in nodes),
        "max_wall_time_s": max(walls) if walls else None,
    }
    return {"nodes": {n.name: asdict(n) for n in nodes}, "totals": totals, **(extra or {})}


def plot_run(rows_by_node: dict[str, Rows], out_dir: Path) -> list[Path]:
    """reward_per_node.png and local_vs_external.png; nodes without rows are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [out_dir / "reward_per_node.png", out_dir / "local_vs_external.png"]
    window = max(1, max((len(rows) for rows in rows_by_node.values()), default=0) // 10)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, rows) in enumerate(rows_by_node.items()):
        rounds, rewards = [r["round"] for r in rows], [r.get("reward_local") or 0.0 for r in rows]
        ax.plot(rounds, rewards, color=f"C{i % 10}", alpha=0.25, linewidth=0.8)
        ax.plot(rounds, moving_average(rewards, window), color=f"C{i % 10}", linewidth=2, label=name)
    _finish(ax, f"Local reward per node (thick: moving average over {window} rounds)", fig, paths[0])
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, rows) in enumerate(rows_by_node.items()):
        color = f"C{i % 10}"
        local = moving_average([r.get("reward_local") or 0.0 for r in rows], window)
        ax.plot([r["round"] for r in rows], local, color=color, label=f"{name} local")
        ext = [(r["round"], r["reward_external"]) for r in rows if r.get("reward_external") is not None]
        if ext:
            ax.plot([x for x, _ in ext], moving_average([y for _, y in ext], window), color=color, linestyle="--",
                    label=f"{name} external")
    _finish(ax, f"Local (solid) vs external (dashed) reward, moving average over {window}", fig, paths[1])
    plt.close("all")
    return paths


def _finish(ax: Any, title: str, fig: Any, path: Path) -> None:
    ax.set_xlabel("round")
    ax.set_ylabel("mean reward")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def build_report(run_dir: Path, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Path]]:
    """Write summary.json and the plots into run_dir; return the summary and the plot paths."""
    run_dir = Path(run_dir)
    rows_by_node = load_rows(run_dir)
    summary = summarize_run(rows_by_node, extra)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary, plot_run(rows_by_node, run_dir)


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Summary", caption="reward: mean of the first and last tenth of the rounds (up to 10), "
                  "mean over all rounds; ext: peers' groups trained on",
                  box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
    for col in ("node", "model", "rounds", "first", "last", "mean", "ext mean", "ext", "rej", "wall s"):
        table.add_column(col, justify="left" if col in ("node", "model") else "right", no_wrap=True)
    for n in summary["nodes"].values():
        table.add_row(
            n["name"], n["model"] or "-", str(n["rounds"]), _fmt(n["first_reward"]), _fmt(n["last_reward"]),
            _fmt(n["mean_reward"]), _fmt(n["mean_reward_external"]), str(n["external_groups"]),
            str(n["rejections"]), _fmt(n["wall_time_s"], ".1f"),
        )
    t = summary["totals"]
    table.add_section()
    table.add_row(
        "all", "", str(t["rounds"]), _fmt(t["mean_first_reward"]), _fmt(t["mean_last_reward"]),
        _fmt(t["mean_reward"]), "", str(t["external_groups"]), str(t["rejections"]), _fmt(t["max_wall_time_s"], ".1f"),
    )
    return table
