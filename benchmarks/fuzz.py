"""Coverage-guided fuzzing (atheris/libFuzzer) of everything a peer's bytes reach, with throughput figures.

    python -m benchmarks.fuzz [--seconds 60] [--targets decode,verify,rebuild[,rebuild_any]]
    python -m benchmarks.fuzz --smoke         # 2 s per target (CI, when atheris is installed)

Targets, each run in its own child process for ``--seconds``:
- ``decode``: `protocol.codec.decode` on raw bytes (seeds: `tests/chaos/corpus/`).
- ``verify``: `RecordVerifier.verify` with a secret, an allow list and a window clock. Half of the inputs
  are raw records (seeds: the corpus); the other half are fuzzed *bodies* sealed with a valid signature
  and swarm tag, so the decoder behind the signature check is fuzzed too.
- ``rebuild``: a fuzzed `TaskRef` (the node's own generator half of the time, else any reasoning-gym
  generator or a junk name; a fuzzed config, seed, index, kind), within the codec's bounds, then the
  rebuild a node runs on a peer's task: `build_task_source(TasksConfig())`, whose default accept list
  is the node's own families (question and ground truth).
- ``rebuild_any`` (not in the default set): the same with ``accept_generators: ["*"]``, every reasoning-gym
  generator rebuilt. It measures reasoning-gym's own generators; their slowest items (seconds each) are
  why the accept list is closed by default.

Allowed outcomes are the verdicts (`ProtocolError`, a refused `Verdict`, `TaskError`); anything else is a
crash. Any input slower than 1 s is recorded (with the TaskRef, for rebuild) and fails the target;
libFuzzer's ``-timeout=30`` catches hangs. Prints a table and
writes benchmarks/results/fuzz/full.json (--smoke: runs/benchmarks/fuzz/); inputs that crashed, hung or
ran slow are kept in runs/benchmarks/fuzz/artifacts/. Needs ``pip install -e '.[fuzz]'`` (atheris).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO, SCRATCH, output_path, shown, write_json

CORPUS = REPO / "tests" / "chaos" / "corpus"
ARTIFACTS = SCRATCH / "fuzz" / "artifacts"
TARGETS = ("decode", "verify", "rebuild")
"""The default set: what a peer's bytes reach on a node with the default configuration."""
ALL_TARGETS = (*TARGETS, "rebuild_any")
SLOW_S = 1.0
"""An input slower than this is a finding (recorded with what it was); libFuzzer's own -timeout=30 catches hangs."""


# ---------------------------------------------------------------- targets (run inside the child)


def target_decode():
    from protocol.codec import decode
    from protocol.errors import ProtocolError

    def one(data: bytes) -> None:
        try:
            decode(data)
        except ProtocolError:
            pass

    return one


def target_verify():
    from protocol import Identity, RecordVerifier
    from tests.chaos.hostile import envelope

    me = Identity.from_seed(b"corpus-attacker")
    settings = json.loads((CORPUS / "manifest.json").read_text())["verifier"]
    secret = settings["secret"].encode()
    verifier = RecordVerifier(settings["swarm_id"], secret, frozenset(settings["allowed"]),
                              window_clock=lambda: settings["window"], max_window_age=2)

    def one(data: bytes) -> None:
        if data[:1] == b"\x01":  # fuzz what lies behind the signature: seal the rest as a body
            data = envelope(data[1:], me, secret)
        verdict = verifier.verify(data, subkey=me.peer_id + ".0", window=settings["window"])
        assert verdict.accepted or verdict.reason, verdict

    return one


def target_rebuild(accept_generators: list[str] | None = None):
    import atheris
    from reasoning_gym.factory import DATASETS

    from node.config import TasksConfig
    from node.tasks import TaskError, build_task_source
    from protocol.messages import TaskRef

    config = TasksConfig(accept_generators=accept_generators)
    own = [family.name for family in config.families]
    names = sorted(DATASETS) + ["", "no_such_generator", "chain_sum\x00", "../etc/passwd"]
    source = build_task_source(config)
    keys = ["min_terms", "max_terms", "min_digits", "max_digits", "size", "seed", "difficulty", "max_value", "n", "x y"]

    def value(fdp: "atheris.FuzzedDataProvider"):
        pick = fdp.ConsumeIntInRange(0, 5)
        if pick == 0:
            return fdp.ConsumeIntInRange(-2**40, 2**40)
        if pick == 1:
            return fdp.ConsumeIntInRange(-3, 12)
        if pick == 2:
            return fdp.ConsumeRegularFloat()
        if pick == 3:
            return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
        return [None, True, False][pick - 4 if pick < 6 else 0]

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        generator = own[fdp.ConsumeIntInRange(0, len(own) - 1)] if fdp.ConsumeBool() else names[fdp.ConsumeIntInRange(0, len(names) - 1)]
        config = {keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]: value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 4))}
        seed = source.config.dataset_seed if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 2**40)
        index = fdp.ConsumeIntInRange(0, 2**40) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 2000)
        kind = "free" if fdp.ConsumeIntInRange(0, 15) == 0 else "rebuildable"
        ref = TaskRef(generator, config, seed, index, kind)
        one.last = repr(ref)
        try:
            source.rebuild(ref)
        except TaskError:
            pass

    return one


def child(target: str, seconds: int, workdir: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["protocol", "node.tasks", "swarm.transports"]):
        one = {"decode": target_decode, "verify": target_verify, "rebuild": target_rebuild,
               "rebuild_any": lambda: target_rebuild(["*"])}[target]()
    slow_log = workdir / "slow.jsonl"

    def timed(data: bytes) -> None:
        """Inputs over 1 s are recorded, not fatal, so one slow input does not end the throughput run."""
        t0 = time.perf_counter()
        one(data)
        took = time.perf_counter() - t0
        if took > SLOW_S:
            name = f"slow-unit-{hashlib.sha1(data).hexdigest()}"
            (workdir / name).write_bytes(data)
            with open(slow_log, "a") as f:
                f.write(json.dumps({"unit": name, "s": round(took, 2), "what": getattr(one, "last", "")}) + "\n")

    seeds = [str(CORPUS)] if not target.startswith("rebuild") else []
    argv = [sys.argv[0], str(workdir / "corpus"), *seeds, f"-max_total_time={seconds}", "-timeout=30",
            "-rss_limit_mb=2048", "-print_final_stats=1", f"-artifact_prefix={workdir}/", "-max_len=65536"]
    (workdir / "corpus").mkdir(exist_ok=True)
    atheris.Setup(argv, timed)
    atheris.Fuzz()


# ---------------------------------------------------------------- driver


def run_target(target: str, seconds: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-"))
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.fuzz", "--child", target, "--seconds", str(seconds), "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=seconds + 300, cwd=REPO)
    wall = time.time() - t0
    log = proc.stderr
    stat = dict(re.findall(r"stat::(\w+):\s*(\d+)", log))
    artifacts = sorted(p.name for p in workdir.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "slow-unit-")))
    row = {
        "target": target, "seconds": seconds, "wall_s": round(wall, 1), "exit_code": proc.returncode,
        "executions": int(stat.get("number_of_executed_units", 0)),
        "exec_per_s": int(stat.get("average_exec_per_sec", 0)),
        "peak_rss_mb": int(stat.get("peak_rss_mb", 0)),
        "corpus_units": len(list((workdir / "corpus").iterdir())) if (workdir / "corpus").exists() else 0,
        "crashes": sum(a.startswith(("crash-", "oom-")) for a in artifacts),
        "hangs_over_30s": sum(a.startswith("timeout-") for a in artifacts),
        "over_1s": sum(a.startswith("slow-unit-") for a in artifacts),
        "slow_inputs": _slow(workdir),
        "artifacts": artifacts,
        "tail": log.strip().splitlines()[-3:] if proc.returncode else [],
    }
    if artifacts:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for a in artifacts:
            shutil.copy2(workdir / a, ARTIFACTS / f"{target}-{a}")
    shutil.rmtree(workdir, ignore_errors=True)
    return row


def _slow(workdir: Path) -> list[dict]:
    path = workdir / "slow.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return sorted(rows, key=lambda r: -r["s"])[:20]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=None, help="per target (default 60; smoke 2)")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--smoke", action="store_true", help="2 s per target, written to runs/benchmarks/fuzz/")
    parser.add_argument("--out", type=Path, default=None, help="JSON result (default benchmarks/results/fuzz/full.json)")
    parser.add_argument("--child", choices=ALL_TARGETS)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    args.seconds = args.seconds or (2 if args.smoke else 60)
    if args.child:
        child(args.child, args.seconds, args.workdir)
        return
    if importlib.util.find_spec("atheris") is None:
        raise SystemExit("benchmarks.fuzz needs atheris: pip install -e '.[fuzz]'")
    out = output_path("fuzz", "smoke.json" if args.smoke else "full.json", full=not args.smoke, out=args.out)
    rows = [run_target(t, args.seconds) for t in args.targets.split(",")]
    print(f"{'target':<10}{'seconds':>8}{'execs':>10}{'exec/s':>9}{'crashes':>9}{'>1 s':>6}{'rss MiB':>9}  verdict")
    for r in rows:
        ok = r["crashes"] == 0 and r["over_1s"] == 0 and r["hangs_over_30s"] == 0 and r["exit_code"] == 0
        goal = "ok" if ok and r["exec_per_s"] >= 1000 else ("FAIL" if not ok else "below 1,000/s")
        print(f"{r['target']:<10}{r['seconds']:>8}{r['executions']:>10}{r['exec_per_s']:>9}{r['crashes']:>9}{r['over_1s']:>6}"
              f"{r['peak_rss_mb']:>9}  {goal}")
        for slow in r["slow_inputs"][:5]:
            print(f"    {slow['s']:>5.2f} s  {slow['what'] or slow['unit']}")
    write_json(out, {"time": time.time(), "cpu": os.cpu_count(), "load_avg": os.getloadavg(), "rows": rows})
    print(f"wrote {shown(out)}")


if __name__ == "__main__":
    main()
