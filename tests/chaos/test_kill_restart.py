"""T1-lite: SIGKILL a real `swarm run` node (hivemind transport, its p2pd included) at a random point
mid-training; restarted with the same identity and out dir it resumes at its checkpointed round, with
exactly the checkpoint's weights, and no checkpoint it ever left was torn.
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest
import torch
import yaml

from node.checkpoint import CHECKPOINT_NAME, load_checkpoint
from node.metrics import read_metrics
from protocol import Identity
from swarm.config import load_config
from swarm.procs import Child, child_env, cli_argv, group_alive, spawn, stop_all

pytestmark = [pytest.mark.swarm, pytest.mark.slow]


def write_config(path: Path, cache_dir: str, rounds: int) -> Path:
    node = {"model": {"name": "tiny-0.5m", "threads": 1, "cache_dir": cache_dir, "max_new_tokens": 6},
            "sampler": {"local_i": 2, "external_j": 2, "completions_l": 4},
            "round": {"rounds": rounds, "collect_timeout_s": 0.5, "checkpoint_every": 1}}
    transport = {"swarm_id": "t-chaos-kill", "swarm_secret": "k", "window_seconds": 2.0, "startup_timeout_s": 30.0}
    path.write_text(yaml.safe_dump({"node": node, "transport": transport}))
    return path


def start(config: Path, out: Path, key: Path, log: Path) -> Child:
    return spawn("node", cli_argv("run", "--config", str(config), "--out", str(out), "--identity", str(key)), log, env=child_env(1))


def rows_of(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    return read_metrics(path) if path.exists() else []


def restored_weights(config: Path, out: Path, key: Path, probe: Path) -> dict[str, torch.Tensor]:
    """The weights a restarted node holds right after `restore()`, built in this process on a copy."""
    from swarm.runner import build_node

    shutil.copytree(out / "checkpoint", probe / "checkpoint")
    node = build_node(load_config(config), probe, Identity.load(key))
    assert node.restore()
    node.metrics.close()
    return {k: v.detach().clone() for k, v in node.policy.state_dict().items()}


@pytest.mark.timeout(240)
def test_sigkill_mid_training_then_resume(tiny_model_config, tmp_path: Path) -> None:
    out, key, children = tmp_path / "node", tmp_path / "node.pem", []
    config = write_config(tmp_path / "long.yaml", tiny_model_config.cache_dir, 10_000)
    try:
        children.append(start(config, out, key, tmp_path / "run1.log"))
        deadline, seen_ok, ckpt = time.monotonic() + 150, 0, out / "checkpoint" / CHECKPOINT_NAME
        kill_at = None
        while time.monotonic() < (kill_at or deadline):
            assert children[0].popen.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
            if ckpt.exists():  # read-only look: never call load_checkpoint while the node writes
                torch.load(ckpt, map_location="cpu", weights_only=False)
                seen_ok += 1
            if kill_at is None and len(rows_of(out)) >= 3:
                kill_at = time.monotonic() + random.uniform(0.3, 1.5)  # somewhere inside a round
            time.sleep(0.05)
        assert len(rows_of(out)) >= 3, (tmp_path / "run1.log").read_text()[-3000:]
        stop_all(children, grace_s=0.0)
        assert not group_alive(children[0].pgid), "the node's p2pd outlived a SIGKILL of its group"
    finally:
        stop_all(children, grace_s=0.0)

    state = load_checkpoint(out / "checkpoint")
    assert state is not None and state["round"] >= 2 and seen_ok >= 1
    weights = restored_weights(config, out, key, tmp_path / "probe")
    for name, tensor in state["policy"].items():
        assert torch.equal(weights[name], tensor), f"{name}: restored weights differ from the checkpoint"

    target = state["round"] + 2
    resume = write_config(tmp_path / "resume.yaml", tiny_model_config.cache_dir, target)
    child = start(resume, out, key, tmp_path / "run2.log")
    try:
        assert child.popen.wait(timeout=150) == 0, (tmp_path / "run2.log").read_text()[-3000:]
    finally:
        stop_all([child], grace_s=2.0)
    assert [r["round"] for r in rows_of(out)] == list(range(target)), "a round was lost or repeated"
    assert load_checkpoint(out / "checkpoint")["round"] == target
    assert len({r["peer_id"] for r in rows_of(out)}) == 1, "the restart changed identity"
