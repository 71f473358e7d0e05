"""`swarm` as a new user meets it (issue 23): common mistakes are one line, fast, before hivemind or torch is
imported; a dead bootstrap fails at once; `swarm bootstrap` keeps its id, says where it listens, refuses a
taken port and leaves at once on Ctrl-C; the first build of a preset shows progress and stops on Ctrl-C.

Every process started here runs in its own session and is stopped by its process group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swarm.checks import torch_cuda_build
from swarm.procs import group_alive

SWARM = [sys.executable, "-m", "swarm.cli"]
PID = "12D3KooWB1hQkagaJHDL3s8TAvLYHjCnweX1Yixsg1JNFwLdyrk9"
# Runs the CLI in-process, then reports on stderr whether hivemind or torch got imported on the way.
IMPORTS = ("import sys\nfrom swarm.cli import app\ntry:\n    app(sys.argv[1:], prog_name='swarm')\nexcept SystemExit as e:\n"
           "    code = e.code\nprint('imported:', 'torch' in sys.modules, 'hivemind' in sys.modules, file=sys.stderr)\nsys.exit(code)")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, SAPO_SWARM_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", COLUMNS="200", PYTHONUNBUFFERED="1")


@pytest.fixture
def listening() -> str:
    """A bootstrap-looking address where a TCP connect is accepted (no libp2p behind it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"/ip4/127.0.0.1/tcp/{s.getsockname()[1]}/p2p/{PID}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", IMPORTS, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return result, time.monotonic() - start


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The stderr of a refused command: one `error:` line (rich may wrap it), no traceback, no imports."""
    text, imported = result.stderr.rsplit("imported:", 1)
    assert imported.split() == ["False", "False"], f"hivemind or torch imported before the error: {result.stderr}"
    assert "Traceback" not in result.stderr and text.count("error:") == 1, result.stderr
    return " ".join(text.split())


def test_common_mistakes_are_one_line_before_any_heavy_import(env: dict[str, str], listening: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "checkpoint").mkdir(parents=True)
    (state / "checkpoint" / "checkpoint.pt").write_bytes(b"x")
    (state / "node.json").write_text(json.dumps({"model": "tiny-6m"}))
    cases = [
        (["--device", "tpu"], "--device tpu is not supported: use auto, cpu, cuda, cuda:N or mps"),
        (["--gpus", "a,b"], "--gpus takes GPU indexes separated by commas, e.g. --gpus 0,1 (got 'a,b')"),
        (["--model", "tiny-6M"], "did you mean tiny-6m?"),
        (["--model", ""], "--model is empty"),
        (["--model", "tiny-16m", "--out", str(state)], f"the state folder {state} holds a checkpoint of model tiny-6m, not tiny-16m"),
        (["--set", "transport.initial_peers=[/ip4/127.0.0.1/tcp/31337]"], "has no /p2p/<peer id> at the end"),
    ]
    if torch_cuda_build() is False:
        cases += [(["--gpus", "0,1"], 'CPU build: see README.md, section "GPU nodes"'),
                  (["--device", "cuda"], "--device cuda needs a CUDA build of torch")]
    for args, says in cases:
        peers = [] if any("initial_peers" in a for a in args) else ["--peers", listening]
        result, seconds = cli("join", *peers, *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert says in one_line_error(result), (args, result.stderr)
        assert seconds < 15, f"{args}: {seconds:.1f} s"


def test_identity_into_a_folder_that_cannot_be_made(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result, _ = cli("identity", "new", "--path", str(tmp_path / "a-file" / "sub" / "id.pem"), env=env)
    assert result.returncode == 1
    assert f"cannot create the folder {tmp_path / 'a-file' / 'sub'}" in one_line_error(result)


def test_a_dead_bootstrap_fails_at_once(env: dict[str, str]) -> None:
    maddr = f"/ip4/127.0.0.1/tcp/{free_port()}/p2p/{PID}"
    result, seconds = cli("join", "--peers", maddr, "--model", "tiny-0.5m", env=env)
    assert result.returncode == 1 and seconds < 15, result.stderr
    line = one_line_error(result)
    assert "no bootstrap address works, and waiting will not fix it" in line and "connection refused at 127.0.0.1" in line


# ------------------------------------------------------------------ swarm bootstrap


class Bootstrap:
    def __init__(self, out: Path, env: dict[str, str], *args: str) -> None:
        self.out = out
        self.proc = subprocess.Popen([*SWARM, "bootstrap", "--out", str(out), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)

    def wait_up(self, timeout: float = 90) -> list[str]:
        deadline = time.monotonic() + timeout
        while not (self.out / "bootstrap.json").exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.proc.stdout.read()
            time.sleep(0.2)
        return json.loads((self.out / "bootstrap.json").read_text())["maddrs"]

    def ctrl_c(self) -> tuple[str, float]:
        """SIGINT to the whole group, as a terminal's Ctrl-C (p2pd gets it too)."""
        start = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        output, _ = self.proc.communicate(timeout=30)
        return output, time.monotonic() - start

    def kill(self) -> None:
        if group_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bootstrap_keeps_its_id_says_where_it_listens_and_leaves_on_ctrl_c(env: dict[str, str], tmp_path: Path) -> None:
    key, port = tmp_path / "boot.pem", free_port()
    ids, stops = [], []
    for run in range(2):
        boot = Bootstrap(tmp_path / f"b{run}", env, "--identity", str(key), "--host-maddr", f"/ip4/127.0.0.1/tcp/{port}")
        try:
            maddrs = boot.wait_up()
            ids.append({m.rsplit("/p2p/", 1)[1] for m in maddrs})
            if run == 0:  # a second peer on the same port is refused, not bound beside it
                taken = subprocess.run([*SWARM, "bootstrap", "--host-maddr", f"/ip4/127.0.0.1/tcp/{port}"],
                                       capture_output=True, text=True, env=env, timeout=60)
                assert taken.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in taken.stderr, taken.stderr
            output, seconds = boot.ctrl_c()
            stops.append(seconds)
        finally:
            boot.kill()
        assert boot.proc.returncode == 130 and "Traceback" not in output and "Task exception" not in output, output
        assert "listening on 127.0.0.1 port" in output and "loopback only" in output and "no --identity" not in output
        assert not group_alive(boot.proc.pid), "bootstrap left its daemon behind"
    assert len(ids[0]) == 1 and ids[0] == ids[1], f"peer id changed across a restart: {ids}"
    assert max(stops) < 5.0, f"Ctrl-C took {stops} s"
    print(f"\nbootstrap Ctrl-C exit times: {[round(s, 2) for s in stops]} s")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bootstrap_without_identity_warns_its_id_and_random_port_change(env: dict[str, str], tmp_path: Path) -> None:
    boot = Bootstrap(tmp_path / "b", env)
    try:
        boot.wait_up()
        output, _ = boot.ctrl_c()
    finally:
        boot.kill()
    assert "no --identity: the peer id changes on every restart" in output
    assert "chosen at random and changes on every restart" in output and "loopback only" in output


# ------------------------------------------------------------------ first build of a preset


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_first_build_shows_progress_and_stops_on_ctrl_c(env: dict[str, str], listening: str, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    proc = subprocess.Popen([*SWARM, "join", "--peers", listening, "--model", "tiny-0.5m", "--device", "cpu",
                             "--set", f"node.model.cache_dir={cache}", "--out", str(tmp_path / "n")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while not any("warm start step" in line for line in lines):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        start = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        seconds = time.monotonic() - start
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert "building model preset tiny-0.5m (first use; cached afterwards)" in output, output
    assert proc.returncode == 130 and "stopped while building the model" in output and "Traceback" not in output, output
    assert seconds < 10, f"Ctrl-C took {seconds:.1f} s"
    assert not list(cache.glob("*/.complete")), "a half-built model was cached"
