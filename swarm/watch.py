"""Local nodes' health for `swarm status`: find every ``health.json`` under a run folder and judge it.

A node is **stalled** when it is meant to be running but has not finished a round for more than
`STALL_FACTOR` times its median round time (and at least `MIN_STALL_S`): a hung collect, a stopped
process, a machine asleep. It is **dead** when its process is gone without saying it stopped,
**collapsing** when its recent reward average is below its collapse line (`node.health.collapse_line`,
the line the node's own guard uses), and has a **version_mismatch** when it refused records of another
protocol major.

    >>> assess({"status": "running", "pid": 0, "last_round_at": 100.0, "round_s_median": 1.0,
    ...         "reward_mean": 0.1, "reward_peak": 0.5, "collapse": {"line": 0.35}}, now=200.0)["flags"]
    ['stalled', 'collapsing']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from node.health import read_health

STALL_FACTOR = 5.0
MIN_STALL_S = 10.0
"""Floor of the stall threshold: a node with 0.2 s rounds is not stalled by one slow DHT read."""
HEALTH = "health.json"


def health_files(run_dir: Path) -> dict[str, Path]:
    """Node name -> its health.json: the folder itself (one node's --out), ``nodes/*`` (a testnet) or ``*``
    (`swarm join --gpus`)."""
    run_dir = Path(run_dir)
    found: dict[str, Path] = {}
    if (run_dir / HEALTH).exists():
        found[run_dir.name] = run_dir / HEALTH
    for pattern in ("nodes/*/" + HEALTH, "*/" + HEALTH):
        for path in sorted(run_dir.glob(pattern)):
            found.setdefault(path.parent.name, path)
    return found


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: do not call it dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def assess(health: dict[str, Any], now: float) -> dict[str, Any]:
    """The judgement of one health record at time `now`: flags (stalled, dead, collapsing) and why."""
    flags, why = [], []
    active = health.get("status") in ("starting", "running")
    last, median = health.get("last_round_at"), health.get("round_s_median")
    since = now - last if isinstance(last, (int, float)) else None
    limit = max(STALL_FACTOR * median, MIN_STALL_S) if isinstance(median, (int, float)) else None
    if active and since is not None and limit is not None and since > limit:
        flags.append("stalled")
        why.append(f"no round for {since:.0f} s (limit {limit:.0f} s = {STALL_FACTOR:g} x median {median:.2f} s)")
    if active and not _alive(health.get("pid")):
        flags.append("dead")
        why.append(f"process {health.get('pid')} is gone without saying it stopped")
    line = (health.get("collapse") or {}).get("line")
    mean = health.get("reward_mean")
    if isinstance(line, (int, float)) and isinstance(mean, (int, float)) and mean < line:
        flags.append("collapsing")
        why.append(f"recent reward {mean:.3f} below {line:.3f} (peak {health.get('reward_peak') or 0:.3f})")
    other_major = (health.get("rejections") or {}).get("version", 0)
    if other_major:
        flags.append("version_mismatch")
        why.append(f"{other_major} records of another protocol major refused (node.log says which release to install)")
    return {"flags": flags, "why": why, "seconds_since_round": since, "stall_limit_s": limit}


def node_reports(run_dir: Path, now: float) -> list[dict[str, Any]]:
    """Every node's health record under `run_dir`, each with its ``name`` and ``assessment``."""
    reports = []
    for name, path in health_files(run_dir).items():
        health = read_health(path)
        if health is None:
            continue
        reports.append({**health, "name": name, "path": str(path), "assessment": assess(health, now)})
    return reports
