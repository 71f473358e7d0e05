"""Fixtures for multi-process swarm tests: one module-wide 4-node swarm on loopback, reaped at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.swarm.helpers import NodeProcess, launch_swarm

SWARM_CONFIG = dict(
    swarm_id="t-swarm", window_seconds=2.0, record_ttl_windows=2, windows_per_collect=2,
    num_shards=2, shards_per_collect=1, swarm_secret="test-secret", startup_timeout_s=30.0,
)


@pytest.fixture(scope="module")
def swarm4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    log_dir: Path = tmp_path_factory.mktemp("swarm-logs")
    with launch_swarm(4, log_dir=log_dir, **SWARM_CONFIG) as nodes:
        yield nodes
