"""A resumable log of finished runs, one JSON object per line, kept gzipped in git.

Rows are appended to ``<stem>.runs.jsonl`` as runs finish (a cut-short invocation loses nothing), and
`RunLog.compress` folds them into ``<stem>.runs.jsonl.gz`` (deterministic bytes: no timestamp in the
header) and removes the plain file. Readers read both, the gzip first, so a log stays readable in
every state.

    >>> import tempfile
    >>> log = RunLog(Path(tempfile.mkdtemp()) / "demo")
    >>> log.append({"key": "a", "x": 1}); log.compress().name
    'demo.runs.jsonl.gz'
    >>> log.load()
    {'a': {'key': 'a', 'x': 1}}
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any, Iterator


class RunLog:
    """The run log named by ``stem`` (a path without suffix): rows keyed by their ``"key"`` field."""

    def __init__(self, stem: Path) -> None:
        self.plain = stem.with_name(stem.name + ".runs.jsonl")
        self.packed = stem.with_name(stem.name + ".runs.jsonl.gz")

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every logged row, the compressed ones first, in the order they were written."""
        if self.packed.exists():
            with gzip.open(self.packed, "rt") as f:
                yield from (json.loads(line) for line in f if line.strip())
        if self.plain.exists():
            yield from (json.loads(line) for line in self.plain.read_text().splitlines() if line.strip())

    def load(self) -> dict[str, dict[str, Any]]:
        """Rows by key; a later row with the same key replaces an earlier one."""
        return {row["key"]: row for row in self.rows()}

    def append(self, row: dict[str, Any]) -> None:
        self.plain.parent.mkdir(parents=True, exist_ok=True)
        with self.plain.open("a") as sink:
            sink.write(json.dumps(row) + "\n")

    def clear(self) -> None:
        """Forget every logged row (a fresh invocation)."""
        self.plain.unlink(missing_ok=True)
        self.packed.unlink(missing_ok=True)

    def compress(self) -> Path:
        """Fold the plain rows into the gzip file (rewritten whole) and remove the plain file."""
        lines = "".join(json.dumps(row) + "\n" for row in self.rows())
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
            gz.write(lines.encode())
        tmp = self.packed.with_name(self.packed.name + ".tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(self.packed)
        self.plain.unlink(missing_ok=True)
        return self.packed
