"""Where a benchmark writes, and what every result file says about how it was made.

A full run writes to ``benchmarks/results/<benchmark>/`` (committed: the latest result only); a
``--quick`` or ``--smoke`` run writes to ``runs/benchmarks/<benchmark>/`` (ignored by git), so a short
run never replaces a committed full result. ``--out`` overrides both. Every JSON gets a ``provenance``
block first: the commit it ran at, the command, the date and the versions of the packages its figures
depend on.

    >>> from benchmarks.common.results import output_path
    >>> output_path("gossip", "full.json", full=False).relative_to(REPO).as_posix()
    'runs/benchmarks/gossip/full.json'
    >>> output_path("gossip", "full.json", full=True).relative_to(REPO).as_posix()
    'benchmarks/results/gossip/full.json'
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
"""Committed full results, one folder per benchmark."""
SCRATCH = REPO / "runs" / "benchmarks"
"""Quick and smoke runs (``runs/`` is ignored by git)."""
PACKAGES = ("torch", "transformers", "tokenizers", "hivemind", "reasoning_gym", "numpy", "msgpack", "cryptography",
            "pydantic")
"""Packages whose releases can move a benchmark's figures."""


def output_path(benchmark: str, name: str, *, full: bool, out: Path | None = None) -> Path:
    """``out`` if given; else ``benchmarks/results/<benchmark>/<name>`` for a full run, the scratch folder otherwise."""
    if out is not None:
        return out
    return (RESULTS if full else SCRATCH) / benchmark / name


def _git(*args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def commit() -> str:
    """The checked-out commit, with ``+dirty`` when tracked files outside benchmarks/results differ from it."""
    head = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results")
    return head + ("+dirty" if dirty else "")


def packages() -> dict[str, str]:
    """Python and the installed release of each of `PACKAGES` ("absent" when not installed)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def cpu_kernels() -> str:
    """torch's CPU kernel set here ("AVX2", "AVX512", ...; "absent" without torch): float results, and so a
    built model's bytes and a run's trajectory, differ between them (`node.models.provenance`)."""
    try:
        import torch
    except ImportError:
        return "absent"
    return torch.backends.cpu.get_cpu_capability()


def command() -> str:
    """The command line that started this process, with the interpreter's path cut to ``python``."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    return shlex.join(["python", *argv[1:]])


def host() -> str:
    """This machine as a run's results depend on it: architecture (with the CPU's model name where the system
    says it), cores and torch's CPU kernel set. CPU-seconds differ between hosts (the same runs took 1.5x the
    CPU-seconds on one 2-core host as on another), so ratios are only taken between runs of one host."""
    model = cpu_model()
    return f"{platform.machine()}{f' ({model})' if model else ''}, {os.cpu_count()} cores, {cpu_kernels()} kernels"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), or "" where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()[:80]
    except OSError:
        pass
    return ""


def provenance() -> dict[str, Any]:
    """Commit, command, UTC date, host and package versions of this run."""
    return {"commit": commit(), "command": command(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": host(), "packages": packages()}


def write_json(path: Path, data: dict[str, Any], *, indent: int = 1, meta: dict[str, Any] | None = None) -> Path:
    """Write ``data`` under a ``provenance`` block (``meta``, else captured now), atomically; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"provenance": meta or provenance(), **{k: v for k, v in data.items() if k != "provenance"}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=indent, default=str) + "\n")
    os.replace(tmp, path)
    return path


def shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (for printing)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
