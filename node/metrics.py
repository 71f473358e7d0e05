"""Per-round metrics: one JSON line per round in ``metrics.jsonl``, plus a null sink.

Keys written every round (readers such as `swarm report` rely on them):
``round, time, peer_id, model, reward_local, reward_external, accuracy_local, loss,
local_groups, external_groups, external_candidates, kept_groups, zero_adv_local, zero_adv_external,
peers_seen, batches_received, tokens_per_s, t_generate, t_score, t_publish, t_collect, t_train,
t_round, rejections`` (a map reason -> count, cumulative). ``reward_external`` is null when no
external group was used. Hardware keys (`node.hardware.runtime_fields`): ``device, compile_s,
generate_micro_batch, update_micro_batch, oom_backoffs, peak_gib``. Extra keys may appear.

Reference: nanochat `DummyWandb` (a null object instead of `if logger is not None`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol


class MetricsSink(Protocol):
    def log(self, row: dict[str, Any]) -> None:
        """Called once at the end of every round."""

    def close(self) -> None:
        """Called once when the node stops."""

    def rewind(self, first_round: int, last_row: dict[str, Any] | None = None) -> None:
        """Called after resuming from a checkpoint: forget rows of rounds that will be run again, and
        write `last_row` (the checkpoint's own round, first_round - 1) if it is missing."""


class NullMetrics:
    def log(self, row: dict[str, Any]) -> None:
        pass

    def rewind(self, first_round: int, last_row: dict[str, Any] | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class JsonlMetrics:
    """Appends one line per round and flushes it, so a crash loses at most the current round."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def log(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row, sort_keys=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def rewind(self, first_round: int, last_row: dict[str, Any] | None = None) -> None:
        """Rows of rounds >= `first_round` were written after the checkpoint a restart resumes from; the
        checkpoint's own row (`last_row`) is written if the node was killed between checkpoint and line."""
        kept = [row for row in read_metrics(self.path) if row.get("round", 0) < first_round]
        if last_row is not None and last_row.get("round") == first_round - 1 and not any(r.get("round") == first_round - 1 for r in kept):
            kept.append(last_row)
        self._file.close()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in kept), encoding="utf-8")
        os.replace(tmp, self.path)
        self._file = self.path.open("a", encoding="utf-8")


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All complete rows of a metrics file (a torn last line from a crash is skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
