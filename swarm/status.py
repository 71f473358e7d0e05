"""`swarm status`: who is alive in a swarm (from peer announcements) and how local nodes progress.

    console.print(peers_table(view.peers))   # view = swarm.live_peers.look(...)
    console.print(progress_table(Path("runs/20260101-120000")))
    print(health_json(Path("runs/20260101-120000")))   # `swarm status --json RUN_DIR`

Each local node's health comes from its ``health.json`` (`node.health`), judged by `swarm.watch`:
stalled (no round for 5x its median round time), dead (process gone), collapsing (reward far under its peak).

`swarm status RUN_DIR` on a testnet that is still running also asks its swarm, through the run's
bootstrap peer and with the run's secret (from ``RUN_DIR/bootstrap/config.yaml``).

Who is alive is asked by `swarm.live_peers` (an observer that never counts as a peer).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.table import Table
from rich.text import Text

from protocol import PeerAnnouncement
from protocol.printable import peer_text
from swarm.bootstrap import BOOTSTRAP_FILE
from swarm.report import load_rows
from swarm.watch import node_reports


def live_testnet(run_dir: Path) -> tuple[Path, list[str]] | None:
    """(config, bootstrap multiaddrs) of a `swarm testnet` run whose bootstrap peer still runs."""
    folder = run_dir / "bootstrap"
    try:
        info = json.loads((folder / BOOTSTRAP_FILE).read_text())
        os.kill(info["pid"], 0)
    except (FileNotFoundError, ProcessLookupError, PermissionError, KeyError, json.JSONDecodeError):
        return None
    return folder / "config.yaml", list(info["maddrs"])


def peers_table(peers: list[PeerAnnouncement]) -> Table:
    """Every string of an announcement is the peer's: shown escaped and bounded, never as rich markup."""
    table = Table(title=f"Live peers ({len(peers)})")
    for col in ("peer id", "model", "hardware", "software", "protocol", "last window", "seen s ago", "addresses"):
        table.add_column(col)
    now = time.time()
    for p in peers:
        table.add_row(*(Text(peer_text(s, 64, quote=False)) for s in (p.peer_id, p.model, p.hardware, p.software_version)),
                      "%d.%d" % p.version, str(p.window), f"{now - p.time:.0f}",
                      Text("\n".join(peer_text(a, 120, quote=False) for a in p.addresses)))
    return table


def progress_table(run_dir: Path) -> Table:
    """Per local node: rounds done, latest reward, its recent mean against its peak, peers seen, external groups
    used, seconds since its last round, and its health (status, or stalled / dead / collapsing, and why)."""
    table = Table(title=f"Nodes in {run_dir}")
    for col in ("node", "model", "rounds", "reward", "mean/peak", "peers", "ext", "s ago", "health"):
        table.add_column(col, no_wrap=col != "health")
    now = time.time()
    health = {r["name"]: r for r in node_reports(run_dir, now)}
    for name, rows in load_rows(run_dir).items():
        last = rows[-1] if rows else {}
        reward = last.get("reward_local")
        report = health.get(name)
        table.add_row(
            name, str(last.get("model", "-")), str(len(rows)), "-" if reward is None else f"{reward:.3f}",
            _mean_peak(report), str(last.get("peers_seen", "-")), str(last.get("external_groups", "-")),
            f"{now - last['time']:.0f}" if "time" in last else "-", _verdict(report),
        )
    return table


def _mean_peak(report: dict | None) -> str:
    mean, peak = (report or {}).get("reward_mean"), (report or {}).get("reward_peak")
    return f"{mean:.3f}/{peak:.3f}" if mean is not None and peak is not None else "-"


def _verdict(report: dict | None) -> str:
    if report is None:
        return "-"
    flags = report["assessment"]["flags"]
    verdict = ", ".join(f"[bold red]{f}[/]" for f in flags) or f"[green]{report.get('status', '?')}[/]"
    return verdict + "".join(f"\n{w}" for w in report["assessment"]["why"])


def health_json(run_dir: Path) -> str:
    """`swarm status --json RUN_DIR`: every local node's health record with its assessment, as one JSON object."""
    now = time.time()
    return json.dumps({"run_dir": str(run_dir), "time": now, "nodes": node_reports(run_dir, now)}, indent=1, sort_keys=True)
