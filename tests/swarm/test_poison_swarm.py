"""A poisoning node in a 3-node swarm over the real DHT on loopback is dropped by the other two.

Two honest `swarm run` nodes (default defences: shape and peer trust) and one node that follows the honest
recipe but rewrites half of every group it shares into "trigger, then the right answer" (`b_prefix` of
`benchmarks/poison/attacks.py`), each a process with its own p2pd. From the honest nodes' metrics rows: the
shape check flagged the poisoner's completions, peer trust then refused its groups and no other peer's, and
each honest node still trained on external groups.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from protocol import Identity
from swarm.config import load_config
from swarm.join import read_node_info
from swarm.procs import Child, child_env, cli_argv, spawn, stop_all
from swarm.testnet import write_config

pytestmark = [pytest.mark.swarm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
POISON_NODE = Path(__file__).with_name("poison_node.py")
ROUNDS = 12


def settings(cache_dir: str, allowed: list[str]) -> list[str]:
    values = {
        "node.model.name": "tiny-0.5m", "node.model.cache_dir": cache_dir, "node.model.threads": 1,
        "node.sampler.local_i": 4, "node.sampler.external_j": 4, "node.sampler.completions_l": 8,
        "node.round.rounds": ROUNDS, "node.round.checkpoint_every": 0, "node.round.collect_timeout_s": 1.5,
        "node.round.wait_for_peers": 2, "node.round.wait_for_peers_s": 60, "node.round.min_round_s": 1.0,
        "transport.swarm_id": "poison-test", "transport.window_seconds": 2.0, "transport.swarm_secret": "poison-secret",
        "transport.allowed_peers": allowed, "transport.startup_timeout_s": 60.0,
    }
    return [f"{k}={json.dumps(v)}" for k, v in values.items()]


def start(i: int, work: Path, cache_dir: str, allowed: list[str], peers: list[str], poison: bool) -> Child:
    folder = work / f"node{i}"
    config = load_config(REPO / "configs" / "testnet.yaml", settings(cache_dir, allowed))
    data = config.model_dump(mode="json")
    data["transport"]["initial_peers"] = peers
    path = write_config(type(config).model_validate(data), folder / "config.yaml")
    if poison:
        argv = [sys.executable, str(POISON_NODE), str(path), str(folder), str(folder / "identity.pem"), "b_prefix"]
    else:
        argv = cli_argv("run", "--config", str(path), "--out", str(folder), "--identity", str(folder / "identity.pem"))
    return spawn(f"node{i}", argv, folder / "node.log", child_env(1))


def wait_for(folder: Path, since: float, child: Child, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (info := read_node_info(folder, since)) is None:
        assert child.returncode is None, (folder / "node.log").read_text()[-3000:]
        assert time.monotonic() < deadline, f"{folder} did not come up"
        time.sleep(0.3)
    return info


def rows(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


@pytest.mark.timeout(420)
def test_a_poisoning_node_is_dropped_by_the_other_two(tmp_path: Path, tiny_model_config) -> None:
    identities = [Identity.from_seed(f"poison-swarm-{i}".encode()) for i in range(3)]
    allowed = [ident.peer_id for ident in identities]
    for i, ident in enumerate(identities):
        ident.save(tmp_path / f"node{i}" / "identity.pem")
    children: list[Child] = []
    cache = str(tiny_model_config.cache_dir)
    try:
        since = time.time() - 1
        children.append(start(0, tmp_path, cache, allowed, [], poison=False))
        first = wait_for(tmp_path / "node0", since, children[0], 120)
        children += [start(1, tmp_path, cache, allowed, first["multiaddrs"], poison=False),
                     start(2, tmp_path, cache, allowed, first["multiaddrs"], poison=True)]
        deadline = time.monotonic() + 300
        while any(c.returncode is None for c in children) and time.monotonic() < deadline:
            time.sleep(1.0)
        assert all(c.returncode == 0 for c in children), [(c.name, c.returncode, c.log_path.read_text()[-2000:]) for c in children]
    finally:
        assert not stop_all(children, grace_s=10.0), "processes left behind"

    poisoner = identities[2].peer_id
    for i in (0, 1):
        got = rows(tmp_path / f"node{i}")
        assert len(got) == ROUNDS
        shape = sum(r["defences"].get("shape", {}).get("extra_text", 0) for r in got)
        refused = sum(r["defences"].get("peer_trust", {}).get("groups", 0) for r in got)
        checked = sum(r["defences"].get("groups", {}).get("checked", 0) for r in got)
        assert shape > 0, f"node{i}: the poisoner's completions were never flagged ({poisoner})"
        assert refused > 0, f"node{i}: peer trust never refused the poisoner's groups"
        refused_peers = {peer for r in got for peer in r["defences"].get("refused_peers", {})}
        assert refused_peers == {poisoner}, (i, refused_peers, poisoner)
        assert checked > 0, f"node{i}: no group was inspected"
        assert any(r["external_groups"] > 0 for r in got), f"node{i}: trained on no peer's groups at all"
