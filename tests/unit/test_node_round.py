"""The round loop end to end in one process: silo, two nodes over MemoryTransport, J=0 equivalence,
checkpoint and resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import torch

from node.algorithms import build_algorithm
from node.config import NodeConfig
from node.metrics import JsonlMetrics, read_metrics
from node.policy import Policy
from node.rewards import build_reward_fn
from node.round import Node
from node.tasks import build_task_source
from protocol import Identity
from swarm.transports import MemoryHub, build_transport
from swarm.transports.config import TransportConfig

SMALL = {"sampler": {"local_i": 4, "external_j": 4, "completions_l": 6}, "round": {"rounds": 5, "collect_timeout_s": 5.0}}


def make_node(model_config, name: str, tmp_path: Path, *, hub: MemoryHub | None = None, overrides: dict | None = None,
              checkpoint: bool = False) -> Node:
    cfg = NodeConfig.model_validate({**SMALL, **(overrides or {}), "model": model_config.model_dump()})
    identity = Identity.from_seed(name.encode())
    policy = Policy.load(cfg.model)
    transport = None
    if hub is not None:
        transport = build_transport(TransportConfig(type="memory", swarm_id="t", window_seconds=5.0, num_shards=1), identity, memory_hub=hub)
    return Node(cfg, identity, policy, build_task_source(cfg.tasks), build_reward_fn(cfg.rewards),
                build_algorithm(cfg.algorithm, policy), transport, swarm_id="t",
                checkpoint_dir=tmp_path / name / "ckpt" if checkpoint else None,
                metrics=JsonlMetrics(tmp_path / name / "metrics.jsonl"))


def weights(node: Node) -> list[torch.Tensor]:
    return [p.detach().clone() for p in node.policy.parameters()]


async def _lockstep(nodes: list[Node], rounds: int) -> None:
    for node in nodes:
        if node.transport is not None:
            await node.transport.start()
    for _ in range(rounds):
        for node in nodes:
            await node.step()


def test_silo_node_learns_and_logs(tiny_model_config, tmp_path: Path) -> None:
    node = make_node(tiny_model_config, "solo", tmp_path)
    before = weights(node)
    asyncio.run(node.run(3))
    rows = read_metrics(tmp_path / "solo" / "metrics.jsonl")
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert all(r["external_groups"] == 0 and r["reward_external"] is None for r in rows)
    assert any(not torch.equal(a, b) for a, b in zip(before, weights(node)))
    for key in ("reward_local", "loss", "t_generate", "t_train", "tokens_per_s", "rejections", "peers_seen"):
        assert key in rows[-1]


def test_two_nodes_train_on_each_others_rollouts(tiny_model_config, tmp_path: Path) -> None:
    hub = MemoryHub()
    a, b = (make_node(tiny_model_config, n, tmp_path, hub=hub) for n in ("a", "b"))
    asyncio.run(_lockstep([a, b], 5))
    for name, peer in (("a", b), ("b", a)):
        rows = read_metrics(tmp_path / name / "metrics.jsonl")
        assert len(rows) == 5
        assert sum(r["batches_received"] for r in rows) >= 4, rows
        assert sum(r["external_groups"] for r in rows) > 0, "never trained on the peer's groups"
        assert all(sum(r["rejections"].values()) == 0 for r in rows)


def test_rescoring_only_claimed_signal_trains_exactly_as_rescoring_everything(tiny_model_config, tmp_path: Path) -> None:
    """Nodes with one verifier: skipping the groups a sender scored all alike changes what intake checks, not what
    is learned (the same weights after 4 rounds), and the skipped groups are counted."""
    runs = {}
    for claimed in (False, True):
        hub = MemoryHub()
        overrides = {**SMALL, "sampler": {**SMALL["sampler"], "rescore_claimed_signal_only": claimed}}
        nodes = [make_node(tiny_model_config, n, tmp_path / str(claimed), hub=hub, overrides=overrides) for n in ("a", "b")]
        asyncio.run(_lockstep(nodes, 4))
        runs[claimed] = ([weights(n) for n in nodes], read_metrics(tmp_path / str(claimed) / "a" / "metrics.jsonl"))
    for before, after in zip(runs[False][0], runs[True][0]):
        assert all(torch.equal(x, y) for x, y in zip(before, after))
    rows_all, rows_claimed = runs[False][1], runs[True][1]
    assert [r["external_groups"] for r in rows_all] == [r["external_groups"] for r in rows_claimed]
    assert sum(r["claimed_no_signal_skipped"] for r in rows_claimed) > 0
    assert sum(r["claimed_no_signal_skipped"] for r in rows_all) == 0
    assert sum(r["external_received"] for r in rows_claimed) < sum(r["external_received"] for r in rows_all)


def test_j0_swarm_node_trains_exactly_like_a_silo_node(tiny_model_config, tmp_path: Path) -> None:
    j0 = {"sampler": {"local_i": 4, "external_j": 0, "completions_l": 6}}
    hub = MemoryHub()
    silo = make_node(tiny_model_config, "same", tmp_path / "silo", overrides=j0)
    swarm = make_node(tiny_model_config, "same", tmp_path / "swarm", hub=hub, overrides=j0)
    peer = make_node(tiny_model_config, "peer", tmp_path, hub=hub)
    asyncio.run(_lockstep([peer, swarm, silo], 3))
    assert all(torch.equal(x, y) for x, y in zip(weights(silo), weights(swarm)))


def test_resume_from_checkpoint_continues_identically(tiny_model_config, tmp_path: Path) -> None:
    straight = make_node(tiny_model_config, "n", tmp_path / "straight")
    asyncio.run(straight.run(4))

    first = make_node(tiny_model_config, "n", tmp_path / "resumed", checkpoint=True)
    asyncio.run(first.run(2))
    second = make_node(tiny_model_config, "n", tmp_path / "resumed", checkpoint=True)
    assert second.restore() and second.round == 2
    asyncio.run(second.run(4))
    assert second.round == 4
    assert all(torch.equal(x, y) for x, y in zip(weights(straight), weights(second)))


def test_min_round_s_paces_a_fast_node(tiny_model_config, tmp_path: Path) -> None:
    node = make_node(tiny_model_config, "paced", tmp_path, overrides={"round": {**SMALL["round"], "min_round_s": 0.3}})
    asyncio.run(node.run(3))
    starts = [r["time"] - r["t_round"] for r in read_metrics(tmp_path / "paced" / "metrics.jsonl")]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.28, gaps  # start to start; the tiny model's rounds take ~50 ms unpaced
