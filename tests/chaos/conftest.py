"""Fixtures for chaos tests: a private 3-node swarm with an allow list, plus an attacker insider process."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from protocol import Identity
from tests.swarm.helpers import NodeProcess, start_node

ATTACKER_SCRIPT = Path(__file__).with_name("attacker_proc.py")
CHAOS_CONFIG = dict(
    swarm_id="t-chaos", window_seconds=2.0, record_ttl_windows=2, windows_per_collect=2,
    num_shards=2, shards_per_collect=2, swarm_secret="chaos-secret", startup_timeout_s=30.0,
)


class ChaosSwarm:
    def __init__(self, honest: list[NodeProcess], attacker: NodeProcess) -> None:
        self.honest, self.attacker = honest, attacker


def seeds(n: int) -> tuple[list[str], str]:
    prefix = f"c{os.getpid()}-{time.monotonic_ns() % 10**6}-"
    return [f"{prefix}h{i}" for i in range(n)], prefix + "attacker"


@pytest.fixture(scope="module")
def chaos_swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosSwarm]:
    log_dir = tmp_path_factory.mktemp("chaos-logs")
    honest_seeds, attacker_seed = seeds(3)
    allowed = [Identity.from_seed(s.encode()).peer_id for s in [*honest_seeds, attacker_seed]]
    config = {**CHAOS_CONFIG, "allowed_peers": allowed}
    started: list[NodeProcess] = []
    try:
        started.append(start_node(config, honest_seeds[0], log_dir))
        joiners = {**config, "initial_peers": started[0].info["maddrs"]}
        for seed in honest_seeds[1:]:
            started.append(start_node(joiners, seed, log_dir))
        started.append(start_node(joiners, attacker_seed, log_dir, script=ATTACKER_SCRIPT))
        assert all(n.info.get("event") == "ready" for n in started), [n.info for n in started]
        yield ChaosSwarm(started[:3], started[3])
    finally:
        for node in started:
            node.stop()
        assert not any(n.group_alive() for n in started)


@pytest.fixture(scope="session")
def tiny_model_config():
    """tiny-0.5m in the user's model cache (`cache_dir=None`): a cache hit on a machine that ran any node,
    so the chaos folder stays within its time budget; a fresh CI machine builds it once (~10 CPU-s)."""
    from node.config import ModelConfig
    from node.models import ensure_model

    config = ModelConfig(name="tiny-0.5m")
    ensure_model(config)
    return config
