"""Record the README's "Joining a public swarm" transcript for real, in `tests/nat/topology.py`'s namespaces.

    sudo .venv/bin/python -m tests.nat.transcript --out /tmp/transcript     # prints it; every process stopped after

On pub0 a bootstrap peer with a stable id (started, Ctrl-C, started again: same id); on pub1 and pub2 two
training nodes (the swarm); in the home namespace behind the NAT router: `swarm identity new`, `swarm doctor`
(not dialable), `swarm join` for `--rounds` rounds then Ctrl-C, and, with the router forwarding the port,
`swarm doctor --announce-maddr` (dialable). Each command runs in `--out` as its working folder, so the
transcript shows the same relative paths a user would type. Ctrl-C is SIGINT to the command's process
group, as a terminal sends it; the transcript writes "^C" where a terminal would echo it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.nat.topology import ROUTER_PUBLIC_IP, NatTopology, missing_tools

REPO = Path(__file__).resolve().parents[2]
PORT = 31337
BOOT = ["swarm", "bootstrap", "--identity", "bootstrap.pem", "--port", str(PORT), "--announce-maddr", f"/ip4/10.79.0.1/tcp/{PORT}", "--out", "boot"]
SWARM_SETTINGS = ["--set", "transport.window_seconds=2", "--set", "node.sampler.local_i=4", "--set", "node.sampler.completions_l=8",
                  "--set", "node.model.threads=1", "--set", "node.round.min_round_s=0.5"]


class Shell:
    """Commands in namespaces, each its own process group with its output in a log; the transcript in order."""

    def __init__(self, net: NatTopology, work: Path, timeout_s: float) -> None:
        self.net, self.work, self.timeout_s = net, work, timeout_s
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", SAPO_SWARM_HOME=str(work / "home"), PYTHONUNBUFFERED="1",
                        COLUMNS="200", OMP_NUM_THREADS="1", PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
        self.procs: list[subprocess.Popen] = []
        self.lines: list[str] = []
        self.n = 0

    def start(self, where: str, argv: list[str]) -> tuple[subprocess.Popen, Path]:
        self.n += 1
        log = self.work / f"{self.n:02d}-{where}-{argv[1]}.log"
        with open(log, "w") as sink:
            proc = subprocess.Popen(self.net.prefix(where) + argv, stdout=sink, stderr=subprocess.STDOUT, env=self.env,
                                    cwd=self.work, start_new_session=True)
        self.procs.append(proc)
        return proc, log

    def wait_text(self, proc: subprocess.Popen, log: Path, text: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while text not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no {text!r} from {log.name}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)  # another process's output: nothing to await

    def interrupt(self, proc: subprocess.Popen, log: Path) -> int:
        """Ctrl-C: SIGINT to the group; returns the exit code; the log gets "^C" where the terminal echoes it."""
        before = len(log.read_text())
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(60)
        text = log.read_text()
        log.write_text(text[:before] + "^C" + text[before:])
        return code

    def record(self, where: str, argv: list[str], log: Path, code: int) -> None:
        self.lines += [f"[{where}] $ {' '.join(argv)}", *log.read_text().rstrip("\n").splitlines(), f"[exit {code}]", ""]

    def run(self, where: str, argv: list[str]) -> int:
        proc, log = self.start(where, argv)
        code = proc.wait(self.timeout_s)
        self.record(where, argv, log, code)
        return code

    def stop_all(self) -> None:
        for proc in self.procs:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, sig)
                        proc.wait(20)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # p2pd, if it outlived its node
            except ProcessLookupError:
                pass


def rounds_done(folder: Path) -> int:
    path = folder / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def record(sh: Shell, rounds: int) -> None:
    boot, log = sh.start("pub0", BOOT)
    sh.wait_text(boot, log, "note: listening")
    sh.record("pub0", BOOT, log, sh.interrupt(boot, log))
    (sh.work / "boot" / "bootstrap.json").unlink()
    boot, log = sh.start("pub0", BOOT)
    sh.wait_text(boot, log, "note: listening")
    bootstrap = next(m for m in json.loads((sh.work / "boot" / "bootstrap.json").read_text())["maddrs"] if "/10.79.0.1/" in m)
    sh.record("pub0", BOOT + ["(left running)"], log, -1)
    for i in (1, 2):
        node, log = sh.start(f"pub{i}", ["swarm", "join", "--peers", bootstrap, "--identity", f"pub{i}.pem", "--out", f"pub{i}",
                                         "--model", "tiny-0.5m", *SWARM_SETTINGS, "--set", "node.sampler.external_j=4"])
        sh.wait_text(node, log, "up: ")
    home = ["--peers", bootstrap, "--identity", "home.pem", "--out", "node", "--model", "tiny-0.5m"]
    sh.run("home", ["swarm", "identity", "new", "--path", "home.pem"])
    sh.run("home", ["swarm", "doctor", *home])
    join = ["swarm", "join", *home, *SWARM_SETTINGS]
    node, log = sh.start("home", join)
    deadline = time.monotonic() + sh.timeout_s
    while rounds_done(sh.work / "node") < rounds and node.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)  # rounds another process writes: nothing to await
    sh.record("home", join, log, sh.interrupt(node, log))
    sh.net.forward_port(PORT)
    sh.run("home", ["swarm", "doctor", *home, "--announce-maddr", f"/ip4/{ROUTER_PUBLIC_IP}/tcp/{PORT}"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (made; keeps every log)")
    parser.add_argument("--rounds", type=int, default=12, help="home node rounds before its Ctrl-C")
    parser.add_argument("--timeout-s", type=float, default=240, help="bound on each wait")
    args = parser.parse_args()
    if why := missing_tools():
        sys.exit(f"cannot build the topology: {why}")
    args.out.mkdir(parents=True, exist_ok=False)
    from node.config import ModelConfig
    from node.models import ensure_model

    ensure_model(ModelConfig(name="tiny-0.5m"))  # built (once) here, not inside the transcript
    with NatTopology(publics=3) as net:
        sh = Shell(net, args.out.resolve(), args.timeout_s)
        try:
            record(sh, args.rounds)
        finally:
            sh.stop_all()
            (args.out / "transcript.txt").write_text("\n".join(sh.lines))
            print("\n".join(sh.lines))
        left = net.teardown()
    print(f"namespaces left: {left}")
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
