"""Atomic checkpoints: model, optimizer, RNG states and the round, in one file.

Written to a temporary file in the same folder, flushed and fsynced, then `os.replace`d over the
previous one, so a crash at any point leaves either the old or the new checkpoint, never a torn one.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> save_checkpoint(d, {"round": 3})
    >>> load_checkpoint(d)["round"]
    3
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(directory: str | os.PathLike[str], state: dict[str, Any], name: str = CHECKPOINT_NAME) -> None:
    """Atomically replace ``directory/<name>`` (default ``checkpoint.pt``) with `state`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    tmp = directory / f".{name}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def load_checkpoint(directory: str | os.PathLike[str], name: str = CHECKPOINT_NAME) -> dict[str, Any] | None:
    """The last complete checkpoint ``directory/<name>``, or None if there is none.

    Leftover temporary files from a crash mid-write are removed; they were never the checkpoint.
    """
    directory = Path(directory)
    for leftover in directory.glob(f".{name}.tmp*"):
        logger.info("removing partial checkpoint %s left by a crash", leftover)
        leftover.unlink(missing_ok=True)
    path = directory / name
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
