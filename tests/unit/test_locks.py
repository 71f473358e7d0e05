"""One process per identity and per state folder: the flock-based locks of `swarm.locks`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swarm.locks import STATE_LOCK, LockHeld, acquire, hold, inherited_env, key_lock_path

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from swarm.locks import acquire
    acquire(Path(sys.argv[1]))
    print("held", flush=True)
    time.sleep(60)
""")


def start_holder(path: Path, env: dict | None = None, pass_fds: tuple = ()) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True,
                            env=env, pass_fds=pass_fds, start_new_session=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_command(tmp_path: Path) -> None:
    key = tmp_path / "identity.pem"
    holder = start_holder(key_lock_path(key))
    try:
        with pytest.raises(LockHeld) as err:
            acquire(key_lock_path(key))
        message = str(err.value)
        assert f"pid {holder.pid}" in message and "import sys, time" in message
        assert f"identity {key}" in message and "--identity" in message
    finally:
        holder.kill()
        holder.wait()
    acquire(key_lock_path(key)).release()  # a SIGKILLed holder leaves no stale lock


def test_the_state_folder_lock_names_the_folder(tmp_path: Path) -> None:
    holder = start_holder(tmp_path / "out" / STATE_LOCK)
    try:
        with pytest.raises(LockHeld, match=f"state folder {tmp_path / 'out'} is in use by pid {holder.pid}"):
            with hold([tmp_path / "other.lock", tmp_path / "out" / STATE_LOCK]):
                pass
        acquire(tmp_path / "other.lock").release()  # `hold` gave back the lock it had already taken
    finally:
        holder.kill()
        holder.wait()


def test_a_child_holds_the_locks_its_parent_handed_down(tmp_path: Path) -> None:
    path = tmp_path / "identity.pem.lock"
    lock = acquire(path)
    env = {**os.environ, **inherited_env([lock])}
    child = start_holder(path, env=env, pass_fds=(lock.fd,))  # not refused: the same lock
    try:
        lock.release()  # the parent goes away: the child still holds it
        with pytest.raises(LockHeld):
            acquire(path)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    acquire(path).release()
