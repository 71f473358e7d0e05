"""One in-process SAPO swarm run: N real `Node`s over `MemoryTransport`, stepped in lockstep.

What it measures: per node and round, the node's own reward (mean over its local completions), the
groups it kept for the update (informative local + external) and the CPU-seconds its `Node.step`
took (`time.process_time`, the process runs one node at a time on one torch thread).

    result = run_swarm(RunSpec(regime=SPARSE, n_nodes=4, local_i=8, external_j=8, rounds=60, seed=0))
    result.cumulative_reward, result.cpu_s

The headline metric is the reward on the common questions (`RunResult.common`): the first four of
each node's per-round question stream, which every configuration generates with the same seeds.

Everything is the node's real code: task draw, policy generation, verifier, publish/collect through
the sharded transport (signing, envelopes, inbox), intake re-scoring, the sampler (its split, which
moves I and J between rounds, and its replay buffer) and GRPO. Every configuration is a `NodeConfig`
(`node_config`), which the run log records: `swarm run` runs the same node. The benchmark only (a) injects
a clock so that round r is window r and (b) reads every shard (num_shards=1) so no batch is missed.

Pairing: node k of seed s has peer id from `Identity.from_seed(f"sapo-{s}-{k}")`, so its question
stream (TaskSource.draw is a pure function of peer id, round and position i, hence prefix-stable)
and its generation seeds are the same in every configuration; configurations differ only in how
many of the stream's first questions they use and in what they take from peers. External sampling
has its own RNG (SamplerConfig.seed), and so does each transport's choice of shards and records, so a run is
reproducible.

Lockstep order: nodes step 0..N-1 each round; node k reads round r of nodes < k and round r - 1 of
nodes > k (the lag a real asynchronous swarm has), each batch exactly once.

Reference: SAPO (arXiv 2509.08721) section 4, the controlled experiment.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from node.algorithms import build_algorithm
from node.config import NodeConfig
from node.policy import Policy
from node.rewards import build_reward_fn
from node.round import Node
from node.tasks import build_task_source
from protocol import Identity
from swarm.transports import MemoryHub, build_transport
from swarm.transports.config import TransportConfig

WINDOW_S = 10.0
COMMON_QUESTIONS = 4
"""Questions at the head of each node's per-round stream that every configuration generates (I >= 4)."""
PHASES = ("generate", "score", "publish", "collect", "score_external", "train")
"""The timed phases of `Node.step` (its metrics row's `t_<phase>` fields)."""
T0 = 1_700_000_000.0
"""Simulated DHT time of round 0 (a window boundary)."""

CHAIN_SUM_2 = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
CHAIN_SUM_3 = {"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 1}
CHAIN_SUM_3_WIDE = {"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 2}
"""Three terms of one or two digits: after the 2-term warm start, a base reward of about 0.03 per node-round
(the paper's rewards are about 0.035) and about 1.6 informative groups of 16 per update."""


@dataclass(frozen=True)
class Regime:
    """Where the swarm starts (warm start) and what it is trained on (RL families)."""

    name: str
    warm_start_steps: int
    warm_families: tuple[tuple[str, dict[str, Any]], ...]
    rl_families: tuple[tuple[str, dict[str, Any]], ...]


DENSE = Regime("dense", 250, (("chain_sum", CHAIN_SUM_2),), (("chain_sum", CHAIN_SUM_2),))
SPARSE = Regime("sparse", 400, (("chain_sum", CHAIN_SUM_2),), (("chain_sum", CHAIN_SUM_3),))
SPARSER = Regime("sparser", 400, (("chain_sum", CHAIN_SUM_2),), (("chain_sum", CHAIN_SUM_3_WIDE),))
CHAIN_SUM_2_TWO_DIGIT = {"min_terms": 2, "max_terms": 2, "min_digits": 2, "max_digits": 2}
"""Two terms of two digits: base reward about 0.012 and 0.5 informative groups per update (a pilot only:
nothing learns there in 60 rounds, shared or not)."""
SPARSEST = Regime("sparsest", 400, (("chain_sum", CHAIN_SUM_2),), (("chain_sum", CHAIN_SUM_2_TWO_DIGIT),))
REGIMES = {r.name: r for r in (DENSE, SPARSE, SPARSER, SPARSEST)}


@dataclass(frozen=True)
class RunSpec:
    """One run: a swarm configuration under one seed."""

    regime: Regime
    n_nodes: int
    local_i: int
    external_j: int
    rounds: int
    seed: int
    strategy: str = "uniform"
    adaptive: str = ""
    """The node's `sampler.split`: "" (fixed), "supply" or "fill" (`node.sampler.split`)."""
    update_groups: int = 16
    """The adaptive split's `target`: the update's nominal size in groups."""
    models: tuple[str, ...] = ()
    """Model preset per node (empty: tiny-0.5m for all)."""
    rl_families: tuple[tuple[tuple[str, dict[str, Any]], ...], ...] = ()
    """RL families per node (empty: the regime's for all)."""
    external_advantage: str = "signed"
    """How external groups are learned from (node.config AlgorithmConfig.external_advantage)."""
    completions: int = 16
    lr: float = 3e-4
    iterations: int = 1
    """Optimizer steps per round on the round's batch (node.config AlgorithmConfig.iterations)."""
    max_new_tokens: int = 6
    build_seed: int = 0
    """`model.build_seed`: which warm-started build of the preset every node starts from."""
    replay_groups: int = 0
    """`sampler.replay_groups`: own past informative groups offered for the J slots (0: off)."""
    peers: bool = True
    """Whether nodes have a transport at all; False: isolation whose J slots only its own replay can fill."""
    rescore_claimed: bool = False
    """`sampler.rescore_claimed_signal_only`: intake re-scores only the groups their sender scored unequally."""
    train: bool = True
    """`round.train`: False for a frozen reference whose nodes never update."""

    @property
    def sharing(self) -> bool:
        """Whether nodes read peers (a transport): J > 0 or an adaptive split, unless `peers` is off."""
        return self.peers and (self.external_j > 0 or bool(self.adaptive))


@dataclass
class RunResult:
    spec: RunSpec
    rewards: list[list[float]] = field(default_factory=list)
    """[node][round] mean reward of the node's local completions."""
    common: list[list[float]] = field(default_factory=list)
    """[node][round] mean reward on the first `COMMON_QUESTIONS` questions of the node's stream, which
    every configuration generates: the paired evaluation set (configurations differ in how many of the
    stream's questions they use, so their own-reward averages cover different questions)."""
    kept: list[list[int]] = field(default_factory=list)
    """[node][round] informative groups in the update (local kept + external)."""
    kept_local: list[list[int]] = field(default_factory=list)
    external_candidates: list[list[int]] = field(default_factory=list)
    local_i: list[list[int]] = field(default_factory=list)
    replayed: list[list[int]] = field(default_factory=list)
    """[node][round] groups of the update taken from the node's own replay buffer."""
    age_windows: list[list[float | None]] = field(default_factory=list)
    """[node][round] mean age in windows (= rounds here) of the peers' groups trained on (None: none)."""
    cpu: list[list[float]] = field(default_factory=list)
    """[node][round] CPU-seconds of Node.step."""
    rejections: dict[str, int] = field(default_factory=dict)
    phase_s: dict[str, float] = field(default_factory=dict)
    """Seconds of each phase of Node.step (its `t_<phase>` timers: generate, score, publish, collect,
    score_external, train), summed over nodes and rounds. Wall seconds, but the run steps one node at a time
    on one torch thread with an in-memory transport, so they are CPU-seconds plus any wait; the part of
    `cpu_s` outside them is selection and bookkeeping."""

    @property
    def cumulative_reward(self) -> float:
        """Summed over nodes and rounds, on the common questions (the table's headline metric)."""
        return float(sum(map(sum, self.common)))

    @property
    def cpu_s(self) -> float:
        return float(sum(map(sum, self.cpu)))

    @property
    def kept_per_update(self) -> float:
        flat = [k for row in self.kept for k in row]
        return sum(flat) / max(1, len(flat))


class SimClock:
    """DHT time under the benchmark's control: `at_round(r)` puts every node in window r."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t

    def at_round(self, r: int) -> None:
        self.t = T0 + r * WINDOW_S + 0.5 * WINDOW_S


def node_config(spec: RunSpec, k: int) -> NodeConfig:
    """Node k's configuration in the run `spec`: everything the run varies is a node option."""
    model = spec.models[k] if spec.models else "tiny-0.5m"
    families = spec.rl_families[k] if spec.rl_families else spec.regime.rl_families
    split = {"type": spec.adaptive, "options": {"target": spec.update_groups}} if spec.adaptive else {"type": "fixed"}
    return NodeConfig.model_validate({
        "model": {"name": model, "device": "cpu", "warm_start_steps": spec.regime.warm_start_steps,
                  "warm_start_families": _families(spec.regime.warm_families), "build_seed": spec.build_seed,
                  "max_new_tokens": spec.max_new_tokens, "threads": 1},
        "tasks": {"families": _families(families)},
        "sampler": {"type": spec.strategy, "local_i": spec.local_i, "external_j": spec.external_j,
                    "completions_l": spec.completions, "seed": 1_000 * spec.seed + k, "split": split,
                    "replay_groups": spec.replay_groups, "rescore_claimed_signal_only": spec.rescore_claimed},
        "algorithm": {"type": "grpo", "lr": spec.lr, "external_advantage": spec.external_advantage,
                      "iterations": spec.iterations},
        "round": {"rounds": spec.rounds, "seed": spec.seed, "checkpoint_every": 0, "collect_timeout_s": 30.0,
                  "train": spec.train},
    })


def _families(families: tuple[tuple[str, dict[str, Any]], ...]) -> list[dict[str, Any]]:
    return [{"name": n, "config": c} for n, c in families]


def transport_config() -> TransportConfig:
    return TransportConfig(type="memory", swarm_id="sapo-table", window_seconds=WINDOW_S, num_shards=1,
                           shards_per_collect=1, windows_per_collect=2, record_ttl_windows=3,
                           max_records_per_peer_per_window=4, inbox_size=1024)


def peer_identity(seed: int, k: int) -> Identity:
    return Identity.from_seed(f"sapo-{seed}-{k}".encode())


def build_nodes(spec: RunSpec, clock: SimClock) -> list[Node]:
    hub = MemoryHub(clock)
    nodes = []
    for k in range(spec.n_nodes):
        cfg = node_config(spec, k)
        identity = peer_identity(spec.seed, k)
        policy = Policy.load(cfg.model, seed=cfg.model.build_seed, families=cfg.model.warm_start_families)
        transport = build_transport(transport_config(), identity, memory_hub=hub) if spec.sharing else None
        if transport is not None:
            transport.rng = random.Random(f"sapo-transport-{spec.seed}-{k}")  # which records a collect verifies first
        nodes.append(Node(cfg, identity, policy, build_task_source(cfg.tasks), build_reward_fn(cfg.rewards),
                          build_algorithm(cfg.algorithm, policy), transport, swarm_id="sapo-table",
                          window_seconds=WINDOW_S))
    return nodes


async def _run(spec: RunSpec) -> RunResult:
    clock = SimClock()
    nodes = build_nodes(spec, clock)
    for node in nodes:
        if node.transport is not None:
            await node.transport.start()
    result = RunResult(spec, *([[] for _ in nodes] for _ in range(9)))
    for r in range(spec.rounds):
        clock.at_round(r)
        for k, node in enumerate(nodes):
            start = time.process_time()
            row = await node.step()
            result.cpu[k].append(time.process_time() - start)
            result.rewards[k].append(float(row["reward_local"]))
            head = row["reward_by_question"][:COMMON_QUESTIONS]
            assert len(head) == COMMON_QUESTIONS, f"local_i {row['local_i']} < {COMMON_QUESTIONS} common questions"
            result.common[k].append(sum(head) / COMMON_QUESTIONS)
            trained = spec.train  # a frozen node selects groups but never trains on them
            result.kept[k].append(int(row["kept_groups"]) if trained else 0)
            result.kept_local[k].append(int(row["local_groups"]) if trained else 0)
            result.external_candidates[k].append(int(row["external_candidates"]))
            result.local_i[k].append(int(row["local_i"]))
            result.replayed[k].append(int(row["replayed_groups"]))
            result.age_windows[k].append(row["external_age_windows_mean"])
            for name in PHASES:
                result.phase_s[name] = result.phase_s.get(name, 0.0) + float(row.get(f"t_{name}", 0.0))
    for node in nodes:
        for reason, count in (row_rejections(node)).items():
            result.rejections[reason] = result.rejections.get(reason, 0) + count
        if node.transport is not None:
            await node.transport.stop()
    return result


def row_rejections(node: Node) -> dict[str, int]:
    transport = node.transport.rejections if node.transport is not None else {}
    return dict(transport) | dict(node.intake_rejections)


def run_swarm(spec: RunSpec) -> RunResult:
    """Run one configuration under one seed on one torch thread."""
    torch.set_num_threads(1)
    return asyncio.run(_run(spec))
