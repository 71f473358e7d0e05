"""T9-lite: SIGKILL a process at random points while it writes checkpoints; every reload is one complete state.

A forked child loops `save_checkpoint` over states 0, 1, 2, ... (each a few hundred KiB of tensors
tagged with its number); the parent kills it after a random delay, reloads, and checks the state is
exactly one that was written (tensors match their tag), then starts the next child on the same folder.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch

from node.checkpoint import load_checkpoint, save_checkpoint

KILLS = 30


def state(i: int) -> dict:
    g = torch.Generator().manual_seed(i)
    return {"round": i, "policy": {"w": torch.randn(256, 256, generator=g), "b": torch.full((64,), float(i))},
            "rng": list(range(i % 7))}


def writer(directory: str, start: int) -> None:
    i = start
    while True:
        save_checkpoint(directory, state(i))
        i += 1


def matches(loaded: dict) -> bool:
    want = state(loaded["round"])
    return loaded["rng"] == want["rng"] and all(torch.equal(loaded["policy"][k], v) for k, v in want["policy"].items())


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_random_sigkills_while_saving_never_corrupt_the_checkpoint(tmp_path: Path) -> None:
    ctx, rng = mp.get_context("fork"), random.Random(0)
    last = -1
    for _ in range(KILLS):
        child = ctx.Process(target=writer, args=(str(tmp_path), last + 1), daemon=True)
        child.start()
        try:
            time.sleep(rng.uniform(0.0, 0.25))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
        assert child.exitcode == -signal.SIGKILL
        loaded = load_checkpoint(tmp_path)
        if loaded is None:  # killed before its first save completed
            assert last == -1
            continue
        assert matches(loaded), f"checkpoint {loaded['round']} is not the state that was written"
        assert loaded["round"] >= last, "went back to an older checkpoint"
        last = loaded["round"]
        assert not list(tmp_path.glob(".checkpoint.pt.tmp*")), "a partial file survived the reload"
    assert last >= 5, f"only {last + 1} saves completed in {KILLS} kills: the test did not exercise much"
