"""Run the grid's jobs in forked processes: at most `workers` at once, and together within a memory budget.

A job's memory is estimated from its nodes' model presets (`NODE_GB`, peak resident sizes measured here); a job
starts only while the running jobs' estimates plus its own fit the budget (a job alone always starts), and the
next job that fits runs first when a heavier one must wait. Two SmolLM2 runs side by side (16.5-21.3 GB each: 2
nodes of a 135M model in one process) had the kernel kill both on a 24 GB host. A process that
dies without a result (the kernel's out-of-memory killer sends SIGKILL) yields an error row instead of hanging
the grid, as `multiprocessing.Pool` does when a worker vanishes.

    >>> jobs = [("a", 1.0), ("b", 3.0), ("c", 1.0)]
    >>> rows = list(run_within_budget(jobs, workers=2, budget_gb=3.5, need_gb=lambda job: job[1],
    ...                               describe=lambda job: {"job": job[0]}, run=lambda job: {"job": job[0]}))
    >>> sorted(row["job"] for row in rows)
    ['a', 'b', 'c']
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import resource
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

Job = TypeVar("Job")

NODE_GB = {"smollm2-135m": 10.5}
"""Peak resident GB per node of a preset, measured (the rows' `max_rss_mb`): 2 training SmolLM2 nodes in one run
peaked at 21.3 GB, 1 training and 1 poisoning at 16.5 GB (GRPO's 64-row micro-batch over a 49k vocabulary, AdamW
state and the model, per node). A SmolLM2 run thus runs alone on a 24 GB host."""
DEFAULT_NODE_GB = 0.15
"""Per node of any other preset (an 8-node tiny-0.5m run peaks near 0.8 GB)."""
BASE_GB = 0.5
"""Per job: the interpreter, torch and the in-process transport."""
BUDGET_SHARE = 0.8
"""Share of the host's memory the grid's jobs may plan to use together."""


def job_memory_gb(models: Sequence[str], n_nodes: int) -> float:
    """Estimated peak GB of one run whose node k runs `models[k % len(models)]`."""
    return BASE_GB + sum(NODE_GB.get(models[k % len(models)], DEFAULT_NODE_GB) for k in range(n_nodes))


def memory_budget_gb(meminfo: Path = Path("/proc/meminfo")) -> float:
    """`BUDGET_SHARE` of this host's memory (MemTotal); 16 GB where /proc/meminfo is missing."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return BUDGET_SHARE * int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 16.0


def run_within_budget(jobs: Sequence[Job], *, workers: int, budget_gb: float, need_gb: Callable[[Job], float],
                      describe: Callable[[Job], dict[str, Any]], run: Callable[[Job], dict[str, Any]]
                      ) -> Iterator[dict[str, Any]]:
    """Yield each job's row (`run(job)` in a forked child, plus its peak resident MB) as jobs finish; a child that
    exits without a row yields `describe(job)` with an "error" saying how it ended."""
    context = mp.get_context("fork")
    pending = list(jobs)
    running: dict[Any, tuple[Any, Job, float]] = {}
    while pending or running:
        used = sum(need for _, _, need in running.values())
        for job in list(pending):
            if len(running) >= workers:
                break
            need = need_gb(job)
            if running and used + need > budget_gb:
                continue  # a lighter job may fit now; this one waits
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(run, job, send), daemon=True)
            process.start()
            send.close()
            running[receive] = (process, job, need)
            used += need
            pending.remove(job)
        for receive in multiprocessing.connection.wait(list(running)):
            process, job, _ = running.pop(receive)
            try:
                row = receive.recv()
            except EOFError:
                row = None
            receive.close()
            process.join()
            if row is None:
                code = process.exitcode
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                hint = " (SIGKILL: most likely the kernel's out-of-memory killer)" if code == -9 else ""
                row = {**describe(job), "error": f"the run's process ended without a result: {how}{hint}"}
            yield row


def _child(run: Callable[[Any], dict[str, Any]], job: Any, send: Any) -> None:
    row = run(job)
    row["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    send.send(row)
    send.close()
