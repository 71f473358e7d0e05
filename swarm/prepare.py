"""Building a model preset on first use in the foreground: progress lines, and Ctrl-C that stops it.

A tiny preset is built once (a tokenizer trained here, a short supervised warm start: up to a few CPU
minutes for tiny-16m) and cached. Built inside the node's event loop, that was minutes of silence in
which Ctrl-C could not reach the loop. `build_with_progress` builds it before the node starts, in the
main thread (a KeyboardInterrupt stops it; the half-built folder is removed by the cache), and prints
the builder's log lines (`node.models`: start, warm-start steps, result) as they come.

    build_with_progress(config, console)   # no-op for a cached preset, a model folder or a hub id
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console

from swarm.config import RunConfig

BUILD_LOGGERS = ("node.models",)


class _ConsoleHandler(logging.Handler):
    def __init__(self, console: Console, started: float) -> None:
        super().__init__(logging.INFO)
        self.console, self.started = console, started

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(f"  [{time.monotonic() - self.started:5.0f} s] {record.getMessage()}", highlight=False,
                           soft_wrap=True, markup=False)


@contextmanager
def progress_to(console: Console) -> Iterator[None]:
    """Show the model builder's INFO lines on `console` while the block runs."""
    handler = _ConsoleHandler(console, time.monotonic())
    loggers = [logging.getLogger(name) for name in BUILD_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.getEffectiveLevel() > logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)


def build_with_progress(config: RunConfig, console: Console) -> None:
    """Build (or find in the cache) the preset `config` names, exactly as the node will load it."""
    from swarm.checks import PRESETS

    if config.node.model.name not in PRESETS:
        return
    from swarm.runner import prepare_model

    with progress_to(console):
        prepare_model(config)
