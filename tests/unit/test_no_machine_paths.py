"""No absolute machine paths in committed code or docs: notes are ``../shared/...``, files repo-relative."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MACHINE_PATH = re.compile(r"(?<![\w.~])/(work|home|Users)/\w")
TEXT = (".py", ".md", ".yaml", ".yml", ".toml", ".cfg", ".txt", "Makefile")


def test_no_absolute_machine_paths() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        if name.startswith("benchmarks/results/") or not name.endswith(TEXT) or not (REPO / name).is_file():
            continue
        for n, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{name}:{n}: {line.strip()[:120]}")
    assert not hits, "\n".join(hits)
