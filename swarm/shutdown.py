"""Leaving within a bound: a node whose work is saved never hangs on its way out.

    if not await stop_within(transport.stop(), 15.0, "the hivemind transport"):
        ...                                   # it logged where the stop was waiting, and cancelled it
    arm_exit_watchdog(15.0, code=0)           # a node process, once its work is saved: exit even if exit hangs

Why: a library's teardown can wait on something outside this process. hivemind's `DHTNode.shutdown`
removes the DHT handlers one request at a time over the p2pd control socket, then waits for p2pd to
exit, with no deadline on either. A node that finished its last round once did not exit for 400 s on
a loaded CI machine, and where it waited was never seen. Once the last round is checkpointed there is
nothing left to lose, so the node stops waiting, logs where it was stuck (`awaiting`; every thread's
stack for the watchdog) and goes.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import sys
import threading
import time
from typing import Any, Awaitable

logger = logging.getLogger(__name__)


def awaiting(coro: Any) -> list[str]:
    """Where a suspended coroutine waits: its ``await`` chain, outermost first, one ``file:line in name`` each."""
    where = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        where.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return where


async def stop_within(aw: Awaitable[Any], seconds: float, what: str) -> bool:
    """Await `aw` for at most `seconds`. True if it finished (its error, if any, is raised); False if not:
    then the warning names `what` and where it waits, and it is cancelled without waiting for it to end
    (`asyncio.wait_for` would wait, and a stop that swallows cancellation would hang it again)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        task.result()
        return True
    chain = awaiting(task.get_coro())
    logger.warning("%s did not stop within %g s; going on without it. It was waiting at:\n  %s",
                   what, seconds, "\n  ".join(chain) or "(no frame)")
    task.cancel()
    return False


def arm_exit_watchdog(seconds: float, code: int) -> threading.Thread:
    """From now on this process has `seconds` to exit. Past them, every thread's stack goes to stderr (the
    node's log) and the process ends with `code` at once (``os._exit``: no atexit handlers, no thread joins).

    For a node process only, after its checkpoint and metrics are written: never arm it in a process that
    has more to do (a test runner, a notebook)."""

    def watch() -> None:
        time.sleep(seconds)  # a deadline on the whole process, not a wait on something awaitable
        sys.stderr.write(f"exit took more than {seconds:g} s after the work was saved; stacks of every thread:\n")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(code)

    thread = threading.Thread(target=watch, name="exit-watchdog", daemon=True)  # dies with a process that exits
    thread.start()
    return thread


__all__ = ["arm_exit_watchdog", "awaiting", "stop_within"]
