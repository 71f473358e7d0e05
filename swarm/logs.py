"""Logging for every `swarm` command, configured once at the entry point.

Python drops every ``logger.info`` until something installs a handler; this module is that one
place. The level comes from ``--log-level`` or ``$SAPO_SWARM_LOG_LEVEL`` (default INFO); each line
carries the time, the node's name and the logger. hivemind's own chatter stays at WARNING unless
DEBUG is asked for (or ``$HIVEMIND_LOGLEVEL`` says otherwise); once hivemind is imported,
`swarm.transports.hivemind.logs.adopt_hivemind` sends its records through these handlers.

    configure("info")                                        # every command, from the CLI callback
    configure("info", node="node0", log_file=out / "node.log")  # `swarm run`: terminal and node.log
    # 2026-01-01 12:00:00 node0 node.round INFO: round 12 reward 0.484 ext 8/8 peers 3 0.21s

``node.log`` rotates (`LOG_MAX_BYTES`, `LOG_BACKUPS`). A node whose stderr already is its ``node.log`` (a
child of `swarm testnet`) gets no second handler on that file, so no line is written twice.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

ENV_LEVEL = "SAPO_SWARM_LOG_LEVEL"
ENV_STDERR_LEVEL = "SAPO_SWARM_STDERR_LEVEL"
"""Set by `swarm join` for its node processes: their stderr (kept for tracebacks) gets only warnings and up,
while every line goes to their rotating node.log."""
LOG_MAX_BYTES = 32 * 1024 * 1024
LOG_BACKUPS = 3
"""node.log rotates at LOG_MAX_BYTES into node.log.1 .. .3: a node left for weeks keeps at most ~128 MiB of log."""
LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s %(node)s %(name)s %(levelname)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LIBRARY_LOGGERS = ("hivemind",)
"""Third-party loggers kept at WARNING unless DEBUG is asked for."""
_OURS = "_sapo_swarm_handler"


class _Stderr(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is at each record (test runners swap it; a stale one is closed)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - logging's own attribute
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


class _NodeName(logging.Filter):
    """Stamps every record with the node's name (``-`` outside a node)."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        return True


def resolve_level(level: str | None) -> int:
    """``--log-level``, else ``$SAPO_SWARM_LOG_LEVEL``, else INFO. Raises ValueError on an unknown name."""
    name = (level or os.environ.get(ENV_LEVEL) or "info").strip().lower()
    if name not in LEVELS:
        raise ValueError(f"log level {name!r} is not one of {', '.join(LEVELS)} (--log-level or ${ENV_LEVEL})")
    return getattr(logging, name.upper())


def same_file(path: Path, stream: object) -> bool:
    """True when `stream` writes to `path` (e.g. stderr redirected to the log file by a parent process)."""
    try:
        a, b = os.fstat(stream.fileno()), os.stat(path)  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both OSError and ValueError
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def configure(level: str | None = None, node: str = "-", log_file: Path | None = None) -> int:
    """Install this process's handlers (replacing ours from an earlier call); returns the level in use."""
    numeric = resolve_level(level)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [_Stderr()]
    if os.environ.get(ENV_STDERR_LEVEL):
        handlers[0].setLevel(resolve_level(os.environ[ENV_STDERR_LEVEL]))
    if log_file is not None and not same_file(log_file, sys.stderr):
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(RotatingFileHandler(log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"))
    for handler in handlers:
        setattr(handler, _OURS, True)
        handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
        handler.addFilter(_NodeName(node))
        root.addHandler(handler)
    root.setLevel(numeric)
    quiet = "DEBUG" if numeric <= logging.DEBUG else "WARNING"
    os.environ.setdefault("HIVEMIND_LOGLEVEL", quiet)  # read when hivemind is first imported
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(os.environ["HIVEMIND_LOGLEVEL"])
    return numeric


__all__ = ["ENV_LEVEL", "ENV_STDERR_LEVEL", "LEVELS", "configure", "resolve_level", "same_file"]
