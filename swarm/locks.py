"""One process per identity and per state folder: advisory file locks the OS releases on death.

A node takes two locks before it starts: ``<key file>.lock`` beside its identity key and ``node.lock``
in its state folder. Each is an exclusive ``flock`` on a small file holding the holder's pid and
command line, so a second process is refused at once with a message naming the first. The kernel drops
a flock when its last file descriptor closes, so a node killed with SIGKILL leaves no stale lock.

`swarm join` (the supervisor) takes the locks itself and hands their descriptors to the node process it
starts (`inherited_env`); the node then holds the very same locks (`acquire` sees them in its
environment), and they stay held while either process lives.

    with hold([key_lock_path(key), out / STATE_LOCK]):     # LockHeld if another process has one
        run_the_node()

Reference: flock(2); the same design as `pip`'s and `git`'s "another process holds the lock" refusals.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

STATE_LOCK = "node.lock"
MAX_COMMAND = 400
"""Characters of the holder's command line kept in the lock file (and shown in a refusal)."""
INHERITED = "SAPO_SWARM_LOCK_FDS"
"""Environment variable naming locks a parent already holds for this process: ``path=fd;path=fd``."""


class LockHeld(Exception):
    """Raised by `acquire` when another live process holds the lock; the message names its pid and command.
    Not raised for our own inherited locks, nor for a lock whose holder died (the kernel released it)."""

    def __init__(self, path: Path, holder: dict) -> None:
        self.path, self.holder = path, holder
        if path.name == STATE_LOCK:
            what, other = f"state folder {path.parent}", "--out"
        else:
            what, other = f"identity {path.with_name(path.name.removesuffix('.lock'))}", "--identity"
        super().__init__(f"the {what} is in use by pid {holder.get('pid', '?')} "
                         f"({holder.get('command') or 'command unknown'}); stop that process first, or use another {other}")


@dataclass
class Lock:
    path: Path
    fd: int

    def release(self) -> None:
        """Close our descriptor (the lock goes once no inherited copy is left)."""
        try:
            os.close(self.fd)
        except OSError:
            pass


def key_lock_path(key_file: Path) -> Path:
    """``identity.pem`` -> ``identity.pem.lock`` beside it."""
    return key_file.with_name(key_file.name + ".lock")


def _inherited() -> dict[str, int]:
    pairs = [item.rsplit("=", 1) for item in os.environ.get(INHERITED, "").split(";") if "=" in item]
    return {path: int(fd) for path, fd in pairs if fd.isdigit()}


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def read_holder(path: Path) -> dict:
    """The pid and command written into a lock file ({} if unreadable)."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def own_command() -> list[str]:
    """This process's command line as the OS shows it (``/proc/self/cmdline``), else the interpreter and argv."""
    try:
        return [a.decode(errors="replace") for a in Path("/proc/self/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return [sys.executable, *sys.argv]


def acquire(path: Path, command: list[str] | None = None) -> Lock:
    """Take the exclusive lock at `path` (created if needed) and write our pid and command into it."""
    path = Path(path).resolve()
    fd = _inherited().get(str(path))
    if fd is not None and _same_file(fd, path):
        return Lock(path, fd)  # our parent took it for us
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockHeld(path, read_holder(path)) from None
    record = json.dumps({"pid": os.getpid(), "command": shlex.join(command or own_command())[:MAX_COMMAND]}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    return Lock(path, fd)


@contextmanager
def hold(paths: list[Path], command: list[str] | None = None) -> Iterator[list[Lock]]:
    """All the locks at `paths`, or none (`LockHeld` for the first one taken by another process)."""
    locks: list[Lock] = []
    try:
        for path in paths:
            locks.append(acquire(path, command))
        yield locks
    finally:
        for lock in locks:
            lock.release()


def inherited_env(locks: list[Lock]) -> dict[str, str]:
    """Environment entries that let a child process hold `locks` too (pass their fds with ``pass_fds``)."""
    return {INHERITED: ";".join(f"{lock.path}={lock.fd}" for lock in locks)}


__all__ = ["INHERITED", "STATE_LOCK", "Lock", "LockHeld", "acquire", "hold", "inherited_env", "key_lock_path", "read_holder"]
