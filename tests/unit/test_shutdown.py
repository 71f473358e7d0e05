"""Leaving is bounded: a stop that never ends is given up on (and located), a process whose exit hangs still exits."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import time

import pytest

from swarm.shutdown import awaiting, stop_within


async def _removes_handlers_forever(never: asyncio.Event) -> None:
    await _waits_for_the_daemon(never)


async def _waits_for_the_daemon(never: asyncio.Event) -> None:
    await never.wait()


def test_a_stop_that_never_ends_is_given_up_on_and_located(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[bool, float, asyncio.Task]:
        never = asyncio.Event()
        started = time.monotonic()
        finished = await stop_within(_removes_handlers_forever(never), 0.2, "the stuck transport")
        stuck = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.sleep(0)  # let the cancellation land
        return finished, time.monotonic() - started, stuck

    with caplog.at_level(logging.WARNING, logger="swarm.shutdown"):
        finished, took, stuck = asyncio.run(main())
    assert not finished and 0.2 <= took < 2.0
    assert all(t.cancelled() for t in stuck)
    message = caplog.text
    assert "the stuck transport did not stop within 0.2 s" in message
    assert message.index("_removes_handlers_forever") < message.index("_waits_for_the_daemon")


def test_a_stop_that_ends_in_time_returns_true_and_raises_its_error() -> None:
    async def quick() -> None:
        await asyncio.sleep(0)

    async def broken() -> None:
        raise RuntimeError("the daemon refused")

    assert asyncio.run(stop_within(quick(), 1.0, "quick")) is True
    with pytest.raises(RuntimeError, match="the daemon refused"):
        asyncio.run(stop_within(broken(), 1.0, "broken"))


def test_awaiting_walks_the_await_chain() -> None:
    async def main() -> list[str]:
        never = asyncio.Event()
        task = asyncio.ensure_future(_removes_handlers_forever(never))
        await asyncio.sleep(0)
        chain = awaiting(task.get_coro())
        task.cancel()
        return chain

    chain = asyncio.run(main())
    names = [line.rsplit(" in ", 1)[1] for line in chain]
    assert names[:2] == ["_removes_handlers_forever", "_waits_for_the_daemon"]
    assert "wait" in names  # asyncio.Event.wait, where it really waits


def test_a_process_whose_exit_hangs_exits_with_the_given_code_and_its_stacks() -> None:
    """A non-daemon thread that never ends would hold interpreter exit forever; the watchdog ends it."""
    script = textwrap.dedent("""
        import threading
        from swarm.shutdown import arm_exit_watchdog

        def daemon_of_a_library():
            threading.Event().wait()

        threading.Thread(target=daemon_of_a_library, name="stuck-teardown").start()
        arm_exit_watchdog(0.5, code=0)
    """)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 20
    assert "exit took more than 0.5 s after the work was saved" in proc.stderr
    assert "daemon_of_a_library" in proc.stderr  # every thread's stack, the stuck one included
