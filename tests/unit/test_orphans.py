"""A child told who its supervisor is (`swarm.procs.supervised_env`) stops when that supervisor dies, however it
dies; a child whose supervisor is alive, or that names none, keeps running. Real processes, no DHT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from swarm.procs import ENV_SUPERVISOR_PID, group_alive

# The child: waits for its supervisor's exit, then writes "stopped" to the file named in argv[1].
CHILD = ("import asyncio, sys, pathlib\nfrom swarm.procs import stop_when_supervisor_exits\n"
         "done = pathlib.Path(sys.argv[1])\n"
         "async def main():\n    stopped = asyncio.Event()\n"
         "    await asyncio.wait_for(asyncio.gather(stop_when_supervisor_exits(stopped.set), stopped.wait()), 30)\n"
         "asyncio.run(main())\ndone.write_text('stopped')\n")
# The supervisor: starts the child in a session of its own (as `swarm.procs.spawn` does), prints its pid, waits.
SUPERVISOR = ("import os, subprocess, sys, time\nfrom swarm.procs import supervised_env\n"
              "env = supervised_env(dict(os.environ)) if sys.argv[2] == 'named' else dict(os.environ)\n"
              "child = subprocess.Popen([sys.executable, '-c', sys.argv[3], sys.argv[1]], env=env, start_new_session=True)\n"
              "print(child.pid, flush=True)\ntime.sleep(120)\n")


def start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, int, Path]:
    done = tmp_path / f"{mode}.done"
    env = {k: v for k, v in os.environ.items() if k != ENV_SUPERVISOR_PID}
    sup = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(done), mode, CHILD], stdout=subprocess.PIPE,
                           text=True, env=env)
    return sup, int(sup.stdout.readline()), done


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not group_alive(pid)


def test_a_child_stops_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    sup, child, done = start(tmp_path, "named")
    try:
        time.sleep(1.0)  # the child is up and waiting
        assert group_alive(child) and not done.exists(), "the child stopped while its supervisor lived"
        sup.send_signal(signal.SIGKILL)
        sup.wait(timeout=10)
        assert wait_gone(child, 15), "the child outlived its supervisor"
        assert done.read_text() == "stopped"
    finally:
        sup.kill()
        if group_alive(child):
            os.killpg(child, signal.SIGKILL)


def test_a_child_that_names_no_supervisor_keeps_running(tmp_path: Path) -> None:
    sup, child, done = start(tmp_path, "unnamed")
    try:
        sup.send_signal(signal.SIGKILL)
        sup.wait(timeout=10)
        assert not wait_gone(child, 2.0) and not done.exists(), "a child without a supervisor stopped"
    finally:
        if group_alive(child):
            os.killpg(child, signal.SIGKILL)
