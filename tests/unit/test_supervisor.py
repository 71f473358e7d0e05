"""`swarm.supervisor` with stand-in node processes: restarts, backoff, giving up, refusals, echoed lines.

The stand-in counts its starts in a file, reports progress through health.json as a node does, and
exits as its script says. Real `swarm run` nodes under SIGKILL: tests/smoke/test_unattended.py.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path

from swarm.supervisor import Supervised, Supervisor, SupervisorConfig, backoff_s

STAND_IN = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    folder, script = Path(sys.argv[1]), sys.argv[2].split(",")
    counter = folder / "starts"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    action = script[min(n, len(script) - 1)]
    progress = int(json.loads((folder / "health.json").read_text())["rounds_done"]) if (folder / "health.json").exists() else 0
    if action.startswith("progress"):
        progress += 1
        (folder / "health.json").write_text(json.dumps({"rounds_done": progress}))
        action = action[len("progress"):] or "crash"
    with (folder / "node.log").open("a") as log:  # what a node logs; its stdout is node.stdout
        log.write(f"start {n + 1}: {action}\\n")
    print(f"exiting {action}", flush=True)
    sys.exit({"crash": 3, "done": 0, "refuse": 2}[action])
""")

FAST = SupervisorConfig(max_failures=3, backoff_initial_s=0.01, backoff_max_s=0.05, grace_s=1.0)


def supervise(tmp_path: Path, script: str, config: SupervisorConfig = FAST) -> tuple[int, Supervised, list[str]]:
    folder = tmp_path / "node"
    folder.mkdir()
    node = Supervised("n0", [sys.executable, "-c", STAND_IN, str(folder), script], folder, env={})
    lines: list[str] = []
    code = Supervisor([node], config, echo=lines.append, poll_s=0.02).run()
    return code, node, lines


def test_a_crash_is_restarted_and_the_node_finishes(tmp_path: Path) -> None:
    code, node, lines = supervise(tmp_path, "progress,progress,done")
    assert code == 0 and node.state == "done" and node.restarts == 2
    assert [line for line in lines if line.startswith("start")] == ["start 1: crash", "start 2: crash", "start 3: done"]


def test_crashes_without_progress_are_given_up_on_with_the_reason(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="swarm.supervisor"):
        code, node, _ = supervise(tmp_path, "crash")
    assert code == 1 and node.state == "failed"
    assert (tmp_path / "node" / "starts").read_text() == "3"  # max_failures crashes in a row, then no more
    messages = [r.getMessage() for r in caplog.records]
    assert sum("restarting in" in m for m in messages) == 2
    assert "exit code 3" in messages[-1] and "giving up" in messages[-1] and "start 3: crash" in messages[-1]
    assert "--- node.stdout:" in messages[-1] and "exiting crash" in messages[-1]


def test_progress_between_crashes_resets_the_count(tmp_path: Path) -> None:
    code, node, _ = supervise(tmp_path, "crash,crash,progress,crash,progress,done")
    assert code == 0 and node.restarts == 5  # a crash after a finished round starts a new count


def test_a_refusal_is_not_retried(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="swarm.supervisor"):
        code, node, _ = supervise(tmp_path, "refuse")
    assert code == 1 and node.state == "failed" and (tmp_path / "node" / "starts").read_text() == "1"
    assert "refused to start" in caplog.records[-1].getMessage()


def test_backoff_doubles_up_to_its_cap(tmp_path: Path, caplog) -> None:
    config = SupervisorConfig(max_failures=5, backoff_initial_s=0.1, backoff_max_s=0.3)
    assert [backoff_s(config, k) for k in range(1, 6)] == [0.1, 0.2, 0.3, 0.3, 0.3]
    with caplog.at_level(logging.WARNING, logger="swarm.supervisor"):
        supervise(tmp_path, "crash", config)
    waits = [m.getMessage().split("restarting in ")[1].split(" s")[0] for m in caplog.records if "restarting in" in m.getMessage()]
    assert waits == ["0.1", "0.2", "0.3", "0.3"]  # the fifth crash in a row gives up
