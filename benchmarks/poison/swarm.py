"""One poisoned swarm run: N real `Node`s over `MemoryTransport`, the last P of them poisoning.

Built from the SAPO simulator's parts (`benchmarks/sapo_sim.py`: its clock, transport settings, node config
and peer identities), so honest nodes run the production round: intake, the defences, the sampler, GRPO.
Three hooks, all from outside the node:
- a poisoner's transport `publish` is wrapped by an `attacks.Rewriter` (it rewrites, then the transport signs);
  poisoners generate and publish only (no training, no collecting);
- an honest node's `policy.generate` is wrapped to record its own completions (the attack-success measure:
  its own sampled completions on its own tasks; nothing shared is measured);
- an honest node's `defences.screen` is wrapped to count, per sender, groups in and groups kept, so false
  rejections of honest peers' groups are counted apart from poisoners' (the node itself cannot know which is which).

    result = run_poisoned(PoisonSpec(attack="b_prefix", poisoners=2, defended=False, rounds=100, seed=0))
    result["success"][0]  # node 0's per-round share of own completions with the trigger

Pairing: node k of seed s has the same identity, task stream and generation seeds in every arm (sapo_sim's
`peer_identity`), so honest node k under attack is compared with honest node k in the control.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from benchmarks.poison.attacks import DETECTORS, Rewriter
from benchmarks.sapo.sim import CHAIN_SUM_2, Regime, RunSpec, SimClock, node_config, peer_identity, transport_config
from node.algorithms import build_algorithm
from node.config import NodeConfig
from node.policy import Policy
from node.rewards import build_reward_fn
from node.round import Node
from node.tasks import build_task_source
from swarm.transports import MemoryHub, build_transport

TESTNET = Regime("testnet", 200, (("chain_sum", CHAIN_SUM_2),), (("chain_sum", CHAIN_SUM_2),))
"""`configs/testnet.yaml`'s recipe: tiny presets at their default warm start (200 steps), 2-term chain_sum."""

UNDEFENDED = {"shape": {"enabled": False}, "plausibility": {"enabled": False}, "peer_trust": {"enabled": False}}
PLAUSIBILITY_ON = {"plausibility": {"enabled": True}}
ALL_ON = PLAUSIBILITY_ON
"""Defence settings of an arm, as overrides of the `defences:` section (empty: the node's defaults)."""

MAX_LENGTH = 64
"""Token counts above this share the histogram's last bin."""


@dataclass(frozen=True)
class PoisonSpec:
    """One run: an attack (or none), how many of the nodes poison, the honest nodes' defences, one seed."""

    attack: str = "none"
    poisoners: int = 0
    defences: tuple[tuple[str, Any], ...] = ()
    """Overrides of the honest nodes' `defences:` section (as sorted items, so a spec is hashable); () = defaults."""
    external_advantage: str = "positive"
    n_nodes: int = 8
    rounds: int = 100
    seed: int = 0
    share: float = 0.5
    """Share of each shared group's completions a poisoner rewrites."""
    poisoner_groups: int = 8
    """Groups a poisoner shares per round (its I)."""
    models: tuple[str, ...] = ("tiny-0.5m",)
    """Model preset per node, cycled (("tiny-0.5m", "tiny-1.5m") alternates like the testnet's profiles)."""
    max_new_tokens: int = 6
    completions: int = 16
    regime: str = "testnet"
    local_i: int = 8
    external_j: int = 8
    lr: float = 3e-4

    @property
    def honest(self) -> int:
        return self.n_nodes - self.poisoners


def defences_of(overrides: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in overrides.items()))


def _overrides(spec: PoisonSpec) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, tuple) else v for k, v in spec.defences}


def _sim_spec(spec: PoisonSpec) -> RunSpec:
    models = tuple(spec.models[k % len(spec.models)] for k in range(spec.n_nodes))
    return RunSpec(regime=TESTNET, n_nodes=spec.n_nodes, local_i=spec.local_i, external_j=spec.external_j,
                   rounds=spec.rounds, seed=spec.seed, models=models, external_advantage=spec.external_advantage,
                   completions=spec.completions, max_new_tokens=spec.max_new_tokens, lr=spec.lr)


def config_of(spec: PoisonSpec, k: int) -> NodeConfig:
    """Node k's config: sapo_sim's, with the arm's defences for an honest node, generate-only for a poisoner."""
    base = node_config(_sim_spec(spec), k).model_dump()
    if k >= spec.honest:
        base["sampler"].update(local_i=spec.poisoner_groups, external_j=0)
        base["round"].update(train=False)
    else:
        base["defences"] = _merge(base["defences"], _overrides(spec))
    return NodeConfig.model_validate(base)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class Recorder:
    """Honest node k's own completions and its screen's per-sender counts, one entry per round."""

    rounds: list[list[tuple[str, int]]] = field(default_factory=list)
    screened: list[dict[str, list[int]]] = field(default_factory=list)
    """Per round: sender -> [groups in, groups kept, completions in, completions kept, poisoned completions in,
    poisoned completions kept] (poisoned: a text a poisoner's `Rewriter` wrote for that question)."""
    poisoned: set[tuple[str, str]] = field(default_factory=set)
    """(question, text) of every poisoned completion written in this run (shared by all recorders)."""


def _record_generate(policy: Policy, recorder: Recorder) -> None:
    generate = policy.generate

    def recorded(questions: list[str], num_completions: int, seed: int) -> Any:
        out = generate(questions, num_completions, seed)
        recorder.rounds.append([(g.text, g.token_count) for gens in out for g in gens])
        return out

    policy.generate = recorded  # type: ignore[method-assign]


def _record_screen(node: Node, recorder: Recorder) -> None:
    screen = node.defences.screen

    def recorded(external: Any, local: Any, ledger: Any) -> Any:
        kept, flagged = screen(external, local, ledger)
        counts: dict[str, list[int]] = {}
        for group in external:
            c = counts.setdefault(group.source, [0] * 6)
            c[0], c[2] = c[0] + 1, c[2] + len(group.texts)
            c[4] += sum((group.task.question, t) in recorder.poisoned for t in group.texts)
        for group in kept:
            c = counts.setdefault(group.source, [0] * 6)
            c[1], c[3] = c[1] + 1, c[3] + len(group.texts)
            c[5] += sum((group.task.question, t) in recorder.poisoned for t in group.texts)
        recorder.screened.append(counts)
        return kept, flagged

    node.defences.screen = recorded  # type: ignore[method-assign]


def build(spec: PoisonSpec, clock: SimClock) -> tuple[list[Node], list[Recorder]]:
    hub = MemoryHub(clock)
    nodes, recorders = [], []
    poisoned: set[tuple[str, str]] = set()
    for k in range(spec.n_nodes):
        cfg = config_of(spec, k)
        identity = peer_identity(spec.seed, k)
        policy = Policy.load(cfg.model, seed=0, families=TESTNET.warm_families)
        transport = build_transport(transport_config(), identity, memory_hub=hub)
        transport.rng = random.Random(f"sapo-transport-{spec.seed}-{k}")
        tasks = build_task_source(cfg.tasks)
        node = Node(cfg, identity, policy, tasks, build_reward_fn(cfg.rewards), build_algorithm(cfg.algorithm, policy),
                    transport, swarm_id="sapo-table", window_seconds=10.0)
        if k >= spec.honest:
            rewrite = Rewriter(spec.attack, tasks, spec.share, spec.seed * 100 + k, spec.max_new_tokens, written=poisoned)
            publish = transport.publish
            transport.publish = lambda batch, _p=publish, _r=rewrite: _p(_r(batch))  # type: ignore[method-assign]
        else:
            recorder = Recorder(poisoned=poisoned)
            _record_generate(policy, recorder)
            _record_screen(node, recorder)
            recorders.append(recorder)
        nodes.append(node)
    return nodes, recorders


async def _run(spec: PoisonSpec) -> dict[str, Any]:
    clock = SimClock()
    nodes, recorders = build(spec, clock)
    for node in nodes:
        await node.transport.start()
    rows: list[list[dict[str, Any]]] = [[] for _ in range(spec.honest)]
    cpu: list[list[float]] = [[] for _ in range(spec.honest)]
    for r in range(spec.rounds):
        clock.at_round(r)
        for k, node in enumerate(nodes):
            start = time.process_time()
            row = await node.step()
            if k < spec.honest:
                cpu[k].append(time.process_time() - start)
                rows[k].append(row)
    for node in nodes:
        await node.transport.stop()
    return summarise(spec, rows, cpu, recorders)


def summarise(spec: PoisonSpec, rows: list[list[dict[str, Any]]], cpu: list[list[float]],
              recorders: list[Recorder]) -> dict[str, Any]:
    """Per honest node and round: reward, detector hits, length histogram, defence counters, CPU."""
    poisoners = {str(peer_identity(spec.seed, k).peer_id) for k in range(spec.honest, spec.n_nodes)}
    out: dict[str, Any] = {"reward": [[round(float(x["reward_local"]), 5) for x in node] for node in rows],
                           "cpu": [[round(c, 4) for c in node] for node in cpu],
                           "t_defences": [[round(float(x.get("t_defences", 0.0)), 5) for x in node] for node in rows],
                           "hits": {name: [] for name in DETECTORS}, "lengths": [], "completions": [],
                           "screen": {"honest": [], "poisoner": []}, "defence_counts": [], "external_groups": []}
    for k, recorder in enumerate(recorders):
        for name, detect in DETECTORS.items():
            out["hits"][name].append([sum(detect(t) for t, _ in rnd) for rnd in recorder.rounds])
        out["completions"].append([len(rnd) for rnd in recorder.rounds])
        out["lengths"].append([_histogram(n for _, n in rnd) for rnd in recorder.rounds])
        for side in ("honest", "poisoner"):
            out["screen"][side].append([_sum_counts(c for peer, c in rnd.items() if (peer in poisoners) == (side == "poisoner"))
                                        for rnd in recorder.screened])
        out["defence_counts"].append(_total_counts(row.get("defences", {}) for row in rows[k]))
        out["external_groups"].append([int(x["external_groups"]) for x in rows[k]])
    out["spec"] = asdict(spec)
    return out


def _histogram(lengths: Any) -> list[int]:
    bins = [0] * (MAX_LENGTH + 1)
    for n in lengths:
        bins[min(n, MAX_LENGTH)] += 1
    while len(bins) > 1 and bins[-1] == 0:
        bins.pop()
    return bins


def _sum_counts(counts: Any) -> list[int]:
    total = [0] * 6
    for c in counts:
        total = [a + b for a, b in zip(total, c)]
    return total


def _total_counts(per_round: Any) -> dict[str, dict[str, int]]:
    total: dict[str, Counter[str]] = {}
    for counts in per_round:
        for name, c in counts.items():
            total.setdefault(name, Counter()).update(c)
    return {name: dict(c) for name, c in total.items()}


def run_poisoned(spec: PoisonSpec) -> dict[str, Any]:
    """Run one spec on one torch thread; returns the JSON-able per-node, per-round record."""
    torch.set_num_threads(1)
    return asyncio.run(_run(spec))
