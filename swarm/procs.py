"""Child processes in their own process groups: spawn, watch, stop (SIGTERM, then SIGKILL), verify.

Each child starts a new session, so it and everything it starts (hivemind's ``p2pd`` daemon stays in
its parent's group) can be stopped with one ``killpg`` and checked with ``killpg(pgid, 0)``, even
after the child itself died and left its daemon behind. Nothing here kills by name. A child started with
`supervised_env` stops by itself when the process that started it dies (`stop_when_supervisor_exits`).

    >>> import sys, tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log"
    >>> c = spawn("demo", [sys.executable, "-c", "print('hi')"], log)
    >>> c.popen.wait(), stop_all([c], grace_s=1.0), tail(log)
    (0, [], 'hi')

Reference: hivemind `tests/conftest.py` (reap only our own children).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator


ENV_SUPERVISOR_PID = "SAPO_SWARM_SUPERVISOR_PID"
"""Set by `swarm join` and `swarm testnet` in each child (`supervised_env`): the pid whose exit stops it."""


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pgid(self) -> int:
        return self.popen.pid  # session leader: its pid is the group id

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()


def spawn(name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
          pass_fds: list[int] | None = None) -> Child:
    """Start argv in a new session with stdout and stderr appended to log_path (`pass_fds` stay open in it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            pass_fds=tuple(pass_fds or ()),
        )
    return Child(name, popen, log_path)


def supervised_env(env: dict[str, str]) -> dict[str, str]:
    """`env` plus this process's pid as the child's supervisor: the child stops when this process dies."""
    return {**env, ENV_SUPERVISOR_PID: str(os.getpid())}


async def stop_when_supervisor_exits(stop: Callable[[], None]) -> None:
    """Call `stop` once the supervisor named in this process's environment has exited (never if none is named).

    A supervisor (`swarm join`, `swarm testnet`) killed without stopping its children would leave them
    running unwatched, holding their locks and ports; with this they stop as on SIGTERM."""
    pid = os.environ.get(ENV_SUPERVISOR_PID)
    if not pid:
        return
    await wait_for_exit(int(pid))
    logging.getLogger(__name__).warning("the supervisor (pid %s) is gone; stopping as on SIGTERM", pid)
    stop()


def child_env(threads: int) -> dict[str, str]:
    """This environment plus: unbuffered logs, `threads` BLAS/OpenMP threads, no progress bars."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return env


def cli_argv(*args: str) -> list[str]:
    """argv running `swarm <args>` with this interpreter (works without the console script on PATH)."""
    return [sys.executable, "-m", "swarm.cli", *args]


def group_alive(pgid: int) -> bool:
    """True while a live process is left in the group (zombies awaiting their reaper do not count)."""
    if Path("/proc/self/stat").exists():
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_members(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in a group, read from /proc (empty where there is none)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def stop_all(children: list[Child], grace_s: float) -> list[int]:
    """SIGTERM every child, wait up to grace_s, SIGKILL what is left; returns pids still alive after.

    SIGTERM goes to the child alone while it lives, so it can stop its own daemon cleanly (a daemon
    killed under it can stall its shutdown); to the whole group once the child is gone."""
    for child in children:
        if child.returncode is None:
            child.popen.send_signal(signal.SIGTERM)
        else:
            _signal_group(child.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        for child in children:
            child.popen.poll()  # reap our own children so their group can empty
        if not any(group_members(c.pgid) or c.returncode is None for c in children):
            break
        time.sleep(0.1)
    for child in children:
        if group_alive(child.pgid):
            _signal_group(child.pgid, signal.SIGKILL)
    for child in children:
        try:
            child.popen.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass
    time.sleep(0.2)  # orphaned daemons are reaped by init
    return [pid for c in children for pid in group_members(c.pgid)]


async def wait_for_exit(pid: int, poll_s: float = 1.0) -> None:
    """Return once process `pid`, this process's parent, has exited (at once if it is no longer the parent).

    Awaited on a pidfd where Linux has one (readable when the process ends), polled elsewhere. Checking
    the parent first rules out a recycled pid: an orphan's parent is init or a subreaper.

        >>> asyncio.run(asyncio.wait_for(wait_for_exit(-1), 1.0)) is None   # not our parent: returns at once
        True
    """
    if os.getppid() != pid:
        return
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd here (macOS, old kernels): look once a poll_s
        while os.getppid() == pid:
            await asyncio.sleep(poll_s)
        return
    loop, exited = asyncio.get_running_loop(), asyncio.Event()
    loop.add_reader(fd, exited.set)
    try:
        if os.getppid() == pid:  # it may have gone between the check and the pidfd
            await exited.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file ('' if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside: SIGTERM raises KeyboardInterrupt, so a supervisor's ``finally`` stops its children."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
