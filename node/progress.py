"""How a running node reports itself: one log line per round, and the record written to health.json.

    >>> progress_line({"round": 152, "reward_local": 0.484, "external_groups": 8, "peers_seen": 3,
    ...                "t_round": 0.21}, external_j=8, train=True)
    'round 153  reward 0.484  ext 8/8  peers 3  0.21 s'

Rounds are counted from 1 in the line (round 153 is the 153rd round), as `rounds_done` is in health.json;
metrics rows keep their 0-based ``round`` index.
"""

from __future__ import annotations

import os
import time
from typing import Any

from node.health import Vitals
from protocol import PROTOCOL_VERSION
from protocol.versions import package_version


def progress_line(row: dict[str, Any], external_j: int, train: bool, vitals: Vitals | None = None) -> str:
    """The per-round line: round, reward, external groups used / J, peers, round seconds; a generate-only
    node shows how many groups it published instead (this round, and in all)."""
    head = f"round {row['round'] + 1}  reward {row['reward_local']:.3f}"
    if train:
        middle = f"ext {row.get('external_groups', 0)}/{external_j}"
    else:
        middle = f"published {row.get('published_groups', 0)}/{row.get('generated_groups', 0)} groups"
        share = vitals.published_share() if vitals is not None else None
        if share is not None:
            middle += f" ({vitals.groups_published}/{vitals.groups_generated} in all, {share:.0%})"
    if row.get("rollback"):
        middle += "  ROLLED BACK"
    return f"{head}  {middle}  peers {row.get('peers_seen', 0)}  {row.get('t_round', 0.0):.2f} s"


def health_record(node: Any, status: str) -> dict[str, Any]:
    """Everything health.json holds for `node` (a `node.round.Node`) now; keys in `node.health`."""
    row, cfg = node.last_row or {}, node.config
    guard = node.guard.health()
    return {
        "node": node.name, "peer_id": node.identity.peer_id, "model": getattr(node.policy, "name", None),
        "pid": os.getpid(), "version": package_version(), "protocol": "%d.%d" % PROTOCOL_VERSION,
        "status": status, "started_at": node.started_at, "now": time.time(),
        "round": row.get("round"), "rounds_done": node.round, "rounds_target": cfg.round.rounds,
        "train": cfg.round.train, "external_j": cfg.sampler.external_j,
        "reward_last": row.get("reward_local"), "reward_mean": guard["reward_mean"], "reward_peak": guard["reward_peak"],
        "entropy_mean": guard["entropy_mean"], "peers_seen": row.get("peers_seen", 0),
        "rejections": row.get("rejections", {}), "collapse": guard, **node.vitals.snapshot(),
    }
