"""T9: SIGKILL a writer at random points while it writes checkpoints and its metrics log, as a node does.

A forked child plays a node's bookkeeping in `Node.step`'s order: per round it saves the checkpoint
(`save_checkpoint`, a few hundred KiB of tensors tagged with the round, and the round's metrics row) and
then appends the metrics line (`JsonlMetrics.log`). The parent kills it after a random delay and
restarts the way `swarm.runner` does: load the last checkpoint, rewind the metrics to it (writing the
checkpointed row if the kill fell between the two), continue. After every kill it checks that

- the checkpoint is exactly one state that was written (its tensors match its round tag), never an
  older one than before the kill, and no temporary file survives the reload;
- the metrics file, after the rewind, holds exactly one complete row per round before the checkpoint.

    summary = kill_while_writing(Path("/tmp/x"), kills=100, seed=0)   # tests: 30; benchmarks.chaos T9: 100

Used by tests/chaos/test_checkpoint_kills.py and the T9 row of benchmarks.chaos.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from node.checkpoint import load_checkpoint, save_checkpoint
from node.metrics import JsonlMetrics, read_metrics


def state(i: int) -> dict:
    g = torch.Generator().manual_seed(i)
    return {"round": i, "policy": {"w": torch.randn(256, 256, generator=g), "b": torch.full((64,), float(i))},
            "rng": list(range(i % 7))}


def matches(loaded: dict) -> bool:
    want = state(loaded["round"])
    return loaded["rng"] == want["rng"] and all(torch.equal(loaded["policy"][k], v) for k, v in want["policy"].items())


def writer(directory: str, start: int) -> None:
    """A node's bookkeeping from round `start` on, until killed, in `Node.step`'s order: the checkpoint (the
    next round to run, and this round's metrics row), then the metrics line."""
    metrics = JsonlMetrics(Path(directory) / "metrics.jsonl")
    i = start
    while True:
        row = {"round": i, "reward_local": i / 1000, "pad": "x" * 2000}  # about a real row's size
        save_checkpoint(directory, {**state(i + 1), "last_row": row})
        metrics.log(row)
        i += 1


def restart_metrics(directory: Path, loaded: dict | None) -> None:
    """What a restarting node does with its metrics (`Node.restore_metrics`)."""
    if (directory / "metrics.jsonl").exists():
        JsonlMetrics(directory / "metrics.jsonl").rewind(0 if loaded is None else loaded["round"],
                                                        None if loaded is None else loaded.get("last_row"))


@dataclass
class KillReport:
    kills: int
    restarts_ok: int = 0
    saves_completed: int = 0
    """Round of the last checkpoint: how many rounds the writers completed across all kills."""
    torn_or_corrupt_loaded: int = 0
    went_back: int = 0
    partial_files_left: int = 0
    metrics_mismatch: int = 0
    seconds: float = 0.0
    seed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.restarts_ok == self.kills and not self.failures

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def kill_while_writing(directory: Path, kills: int, seed: int = 0, max_delay_s: float = 0.25) -> KillReport:
    """Run `kills` writer children on `directory`, each SIGKILLed after a random delay; check every restart."""
    ctx, rng = mp.get_context("fork"), random.Random(seed)
    report, started, last = KillReport(kills=kills, seed=seed), time.monotonic(), 0
    for k in range(kills):
        loaded = _load_or_none(directory)  # what a restarting node does first (swarm.runner)
        resume = 0 if loaded is None else loaded["round"]
        restart_metrics(directory, loaded)
        child = ctx.Process(target=writer, args=(str(directory), resume), daemon=True)
        child.start()
        try:
            time.sleep(rng.uniform(0.0, max_delay_s))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
        problems = _check_after_kill(directory, report, child.exitcode, last)
        report.failures += [f"kill {k}: {p}" for p in problems]
        report.restarts_ok += not problems
        if (loaded := _load_or_none(directory)) is not None:
            last = max(last, loaded["round"])
    report.saves_completed, report.seconds = last, round(time.monotonic() - started, 1)
    return report


def _load_or_none(directory: Path) -> dict | None:
    try:
        return load_checkpoint(directory)
    except Exception:  # counted by _check_after_kill
        return None


def _check_after_kill(directory: Path, report: KillReport, exitcode: int | None, last: int) -> list[str]:
    """What a restart would find: one written checkpoint, no older than before, and metrics that match it."""
    if exitcode != -signal.SIGKILL:
        return [f"writer exited with {exitcode}, not SIGKILL"]
    try:
        loaded = load_checkpoint(directory)
    except Exception as exc:  # a torn file that torch could not read
        report.torn_or_corrupt_loaded += 1
        return [f"checkpoint unreadable: {exc!r}"]
    problems = []
    if list(directory.glob(".checkpoint.pt.tmp*")):
        report.partial_files_left += 1
        problems.append("a partial checkpoint survived the reload")
    now = 0 if loaded is None else loaded["round"]
    if loaded is not None and not matches(loaded):
        report.torn_or_corrupt_loaded += 1
        problems.append(f"checkpoint {now} is not the state that was written")
    if now < last:
        report.went_back += 1
        problems.append(f"went back from checkpoint {last} to {now}")
    metrics = directory / "metrics.jsonl"
    if metrics.exists():
        restart_metrics(directory, loaded)
        rounds = [row["round"] for row in read_metrics(metrics)]
        if rounds != list(range(now)):
            report.metrics_mismatch += 1
            problems.append(f"metrics hold rounds ...{rounds[-3:]} (n={len(rounds)}) for checkpoint {now}")
    return problems
