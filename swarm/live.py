"""A live rich table of a local swarm, fed by tailing each node's ``metrics.jsonl``.

    >>> board = Board({"node0": Path("/nonexistent")})
    >>> board.set_state("node0", "starting"); board.poll(); board.table().row_count
    1

Only complete lines are read (a line being written is left for the next poll), so the table never
shows a torn row. Row keys are those documented in `node.metrics`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table


class MetricsTail:
    """Reads the rows appended to a metrics file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        rows = []
        for line in data[:end].splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows


class Board:
    """Per node: its state (starting, running, done, died), its latest metrics row, and totals
    (rounds done, external groups trained on; rejections are cumulative in the rows already)."""

    def __init__(self, node_dirs: dict[str, Path], rounds: int | None = None) -> None:
        self.rounds = rounds
        self._tails = {name: MetricsTail(d / "metrics.jsonl") for name, d in node_dirs.items()}
        self.last: dict[str, dict[str, Any]] = {name: {} for name in node_dirs}
        self.states: dict[str, str] = {name: "waiting" for name in node_dirs}
        self.models: dict[str, str] = {}
        self.done: dict[str, int] = {name: 0 for name in node_dirs}
        self.external: dict[str, int] = {name: 0 for name in node_dirs}

    def set_state(self, name: str, state: str) -> None:
        self.states[name] = state

    def poll(self) -> None:
        for name, tail in self._tails.items():
            rows = tail.read_new()
            if rows:
                self.last[name] = rows[-1]
                self.done[name] += len(rows)
                self.external[name] += sum(int(r.get("external_groups") or 0) for r in rows)
                if self.states[name] in ("waiting", "starting"):
                    self.states[name] = "running"

    def table(self, title: str = "Swarm") -> Table:
        table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
        for col in ("node", "model", "state", "rounds", "reward", "ext rwd", "peers", "ext", "rej", "s/rnd"):
            table.add_column(col, justify="left" if col in ("node", "model", "state") else "right", no_wrap=True)
        for name, row in self.last.items():
            table.add_row(
                name, row.get("model") or self.models.get(name, "-"), _state(self.states[name]), *self._cells(name, row)
            )
        return table

    def _cells(self, name: str, row: dict[str, Any]) -> list[str]:
        if not row:
            return ["-"] * 7
        done = str(self.done[name]) + (f"/{self.rounds}" if self.rounds else "")
        return [
            done,
            _num(row.get("reward_local")),
            _num(row.get("reward_external")),
            str(row.get("peers_seen", "-")),
            str(self.external[name]),
            str(sum((row.get("rejections") or {}).values())),
            _num(row.get("t_round"), ".1f"),
        ]


def _num(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _state(state: str) -> str:
    color = {"running": "green", "done": "blue", "died": "bold red", "stopped": "yellow"}.get(state, "dim")
    return f"[{color}]{state}[/{color}]"
