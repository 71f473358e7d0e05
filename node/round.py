"""The SAPO round loop of one node: draw -> generate -> score -> publish -> collect -> re-score ->
select -> update -> metrics -> checkpoint.

    node = Node(config, identity, policy, tasks, reward_fn, algorithm, transport=None)  # silo
    asyncio.run(node.run())

The node never waits on peers beyond its bounded collect (`Deadlines`), and with no transport it
runs alone. Generation and training run in a worker thread so the event loop (and the DHT in it)
stays responsive. Where a rollout is born: `_generate_local`; signed and sent: `transport.publish`;
verified: inside `transport.collect`; re-scored: `node.intake`; chosen: `node.sampler`; learned
from: `algorithm.update`.

Reference: SAPO (arXiv 2509.08721) Algorithm 1; cleanrl `ppo.py` for the banner layout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from node.checkpoint import load_checkpoint, save_checkpoint
from node.collapse import CollapseGuard
from node.config import NodeConfig
from node.defences import build_defences
from node.hardware import runtime_fields
from node.health import HealthSink, NullHealth, Vitals
from node.intake import claiming_signal, rescore_external
from node.metrics import MetricsSink, NullMetrics
from node.pass_rates import PassRateTracker
from node.peer_ledger import PeerLedger
from node.progress import health_record, progress_line
from node.sampler import ExternalPool, ReplayBuffer, Selection, SelectionContext, build_split, build_strategy, select_groups
from node.sampler.replay import is_replayed
from node.transport import NodeTransport
from node.types import Generation, ScoredGroup, Task
from protocol import Completion, Identity, RolloutBatch, RolloutGroup, now, window_of

logger = logging.getLogger(__name__)

RewardFn = Callable[[Task, Sequence[str]], list[float]]


@dataclass(frozen=True)
class Deadlines:
    """Every wait of a round, in one place."""

    collect_s: float
    """Longest wait for peers' rollouts (config: round.collect_timeout_s)."""
    publish_s: float
    """Longest wait for our own publish to be stored."""
    peers_s: float
    """Longest wait for peers before the first round (config: round.wait_for_peers_s)."""


class Node:
    def __init__(self, config: NodeConfig, identity: Identity, policy: Any, tasks: Any, reward_fn: RewardFn,
                 algorithm: Any, transport: NodeTransport | None = None, *, swarm_id: str = "local", window_seconds: float = 10.0,
                 checkpoint_dir: str | os.PathLike[str] | None = None, metrics: MetricsSink | None = None,
                 health: HealthSink | None = None, name: str = "node") -> None:
        self.config, self.identity, self.policy, self.tasks = config, identity, policy, tasks
        self.reward_fn, self.algorithm, self.transport = reward_fn, algorithm, transport
        self.swarm_id, self.window_seconds, self.name = swarm_id, window_seconds, name
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.metrics = metrics or NullMetrics()
        self.health = health or NullHealth()
        self.vitals = Vitals()
        self.started_at = time.time()
        rc = config.round
        self.guard = CollapseGuard(self, rc.collapse_window, rc.collapse_drop, rc.rollback_on_collapse,
                                   rc.collapse_lr_factor, self.checkpoint_dir)
        self.deadlines = Deadlines(collect_s=config.round.collect_timeout_s, publish_s=max(5.0, config.round.collect_timeout_s),
                                   peers_s=config.round.wait_for_peers_s)
        self.round = 0
        self.sampler_rng = random.Random(config.sampler.seed)  # its own stream, apart from task draws
        self.strategy = build_strategy(config.sampler.type)
        self.split = build_split(config.sampler.split.type, config.sampler.split.options)  # (I, J) of each round
        self.pool = ExternalPool(config.sampler.max_external_pool, config.sampler.max_age_windows)
        self.replay = ReplayBuffer(config.sampler.replay_groups)  # own past informative groups (0: off)
        self.intake_rejections: Counter[str] = Counter()
        self.peer_ledger = PeerLedger(**config.sampler.peer_ledger.model_dump())  # whose groups were worth training on
        self.pass_rates = PassRateTracker(**config.sampler.pass_rates.model_dump())  # what this node itself fails
        self.defences = build_defences(config, policy)  # checks on peers' completions before selection
        self._rounds_without_external = 0
        self.last_row: dict[str, Any] | None = None
        """Metrics of the last finished round; checkpointed with it."""

    # ------------------------------------------------------------------ lifecycle

    async def run(self, rounds: int | None = None) -> None:
        """Run until `rounds` (default: config.round.rounds) rounds are done, resuming if checkpointed."""
        total = rounds if rounds is not None else self.config.round.rounds
        cfg = self.config
        if self.round == 0:
            logger.info("starting: %d rounds of %s, I=%d J=%d L=%d%s", total, getattr(self.policy, "name", "?"),
                        cfg.sampler.local_i, cfg.sampler.external_j, cfg.sampler.completions_l,
                        f", lr {cfg.algorithm.lr:g}" if cfg.round.train else ", generate-only (no training)")
            self.health.write(health_record(self, "starting"))
            await self.wait_for_peers()
        loop = asyncio.get_running_loop()
        try:
            while self.round < total:
                started = loop.time()
                row = await self.step()
                logger.info(progress_line(row, row["external_j"], cfg.round.train, self.vitals))
                if self.round < total:
                    await self._pace(started, loop)
        except (asyncio.CancelledError, KeyboardInterrupt):
            logger.info("stopped after round %d of %d; a restart resumes from the last checkpoint", self.round, total)
            self.health.write(health_record(self, "stopped"))
            raise
        if cfg.round.checkpoint_every and self.round % cfg.round.checkpoint_every:
            self.checkpoint()  # the last round, so a restart never repeats it
        logger.info("finished: %d of %d rounds done", self.round, total)
        self.health.write(health_record(self, "finished"))

    async def _pace(self, started: float, loop: asyncio.AbstractEventLoop) -> None:
        """Hold a round that finished early until `round.min_round_s` has passed (a pace, not a wait on an event)."""
        rest = self.config.round.min_round_s - (loop.time() - started)
        if rest > 0:
            await asyncio.sleep(rest)

    async def wait_for_peers(self) -> int:
        """Before the first round, wait (bounded) until `round.wait_for_peers` peers are seen."""
        want = self.config.round.wait_for_peers
        if self.transport is None or want == 0:
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadlines.peers_s
        while len(self.transport.peers()) < want and loop.time() < deadline:
            await self.transport.collect(max_batches=0)  # reads announcements; batches stay queued
            await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))  # a DHT offers nothing to await
        seen = len(self.transport.peers())
        if seen < want:
            logger.warning("starting with %d of %d peers after waiting %.0f s", seen, want, self.deadlines.peers_s)
        return seen

    def restore(self) -> bool:
        """Load the last checkpoint, if any. Returns whether one was loaded."""
        state = load_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
        if state is None:
            return False
        self.policy.load_state_dict(state["policy"])
        if self.algorithm is not None and state.get("algorithm") is not None:
            self.algorithm.load_state_dict(state["algorithm"])
        self.sampler_rng.setstate(state["sampler_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.round = state["round"]
        self.last_row = state.get("last_row")
        self.peer_ledger.load_state_dict(state.get("peer_ledger") or {})  # absent from checkpoints before it existed
        self.pass_rates.load_state_dict(state.get("pass_rates") or {})
        self.split.load_state_dict(state.get("split") or {})
        if state.get("guard") is not None:
            self.guard.load_state_dict(state["guard"])
        logger.info("resumed from round %d (checkpoint in %s)", self.round, self.checkpoint_dir)
        return True

    def restore_metrics(self) -> None:
        """After `restore`: forget metrics of rounds to be run again, and write the checkpointed round's line
        if the node was killed before writing it."""
        self.metrics.rewind(self.round, self.last_row)

    def checkpoint(self) -> None:
        if self.checkpoint_dir is None:
            return
        save_checkpoint(self.checkpoint_dir, {
            "round": self.round,
            "peer_id": self.identity.peer_id,
            "policy": self.policy.state_dict(),
            "algorithm": self.algorithm.state_dict() if self.algorithm is not None else None,
            "sampler_rng": self.sampler_rng.getstate(),
            "torch_rng": torch.get_rng_state(),
            "last_row": self.last_row,
            "peer_ledger": self.peer_ledger.state_dict(),
            "pass_rates": self.pass_rates.state_dict(),
            "split": self.split.state_dict(),
            "guard": self.guard.state_dict(),
        })

    # ------------------------------------------------------------------ one round

    async def step(self) -> dict[str, Any]:
        cfg, r = self.config, self.round
        timer = _Timer()
        local_i, external_j = self.split.current(cfg.sampler.local_i, cfg.sampler.external_j)
        # ===== ALGO LOGIC: local rollouts (tasks -> policy -> rewards)
        with timer("generate"):
            tasks = self.tasks.draw(self.identity.peer_id, r, local_i)
            generations = await self._generate_local(tasks, r)
        with timer("score"):
            local = [self._score(task, gens) for task, gens in zip(tasks, generations)]
        # ===== PLUMBING: gossip (protocol -> transport), bounded by Deadlines
        with timer("publish"):
            published = await self._publish(r, local, generations)
        with timer("collect"):
            batches = await self._collect(external_j)
        with timer("score_external"):
            # Rebuilding a peer's task can take CPU-seconds: keep it off the event loop (and the DHT).
            candidates, claimed_no_signal = (claiming_signal(batches) if cfg.sampler.rescore_claimed_signal_only
                                             else (batches, 0))
            external, rejected = await asyncio.to_thread(rescore_external, candidates, self.tasks, self.reward_fn,
                                                         accept_free_text=cfg.sampler.accept_free_text)
            self.intake_rejections.update(rejected)
            external, flagged = await asyncio.to_thread(self.defences.screen, external, local, self.peer_ledger)
            self.peer_ledger.observe(batches, external, flagged)
            received_zero_adv = sum(not g.has_signal for g in external)
            # Groups without signal can never be chosen when the filter is on: don't let them crowd the pool.
            self.pool.add(g for g in external if g.has_signal or not cfg.sampler.drop_zero_advantage)
        # ===== ALGO LOGIC: SAPO selection (sampler) and the local update (algorithm)
        window = self._window()
        stale = self.pool.drop_stale(window)
        self.pass_rates.observe(local)
        context = SelectionContext(cfg.sampler.options, self.peer_ledger.snapshot(), self.pass_rates.snapshot())
        selection = select_groups(local, [*self.pool, *self.replay], local_i=local_i, external_j=external_j, rng=self.sampler_rng,
                                  strategy=self.strategy, drop_zero_advantage=cfg.sampler.drop_zero_advantage,
                                  context=context)
        ages = self._ages(selection, window)  # before consume: the pool knows each sender's newest round
        self.pool.consume(selection.external)  # replayed groups stay in the replay buffer
        self.replay.add(selection.local, window, r)  # after selection: a round never takes a group twice
        self.split.observe(r, len(selection.local), selection.external_candidates, cfg.sampler.external_j)
        with timer("train"):
            stats = await self._update([*selection.local, *selection.external])
        # ===== PLUMBING: bookkeeping
        self.round += 1
        self._warn_if_no_external(r, selection, external_j)
        row = self._metrics_row(r, local, selection, stats, generations, batches, timer)
        row.update(external_received=len(external), zero_adv_external=received_zero_adv, local_i=local_i,
                   external_j=external_j, pool_dropped_stale=stale, generated_groups=len(local),
                   published_groups=published, claimed_no_signal_skipped=claimed_no_signal, **ages,
                   **self.defences.metrics())
        row["batches_from"] = dict(Counter(b.sender for b in batches))  # who reached us this round: delivery per peer
        # ===== ALGO LOGIC: the collapse guard may restore the best policy (before it is checkpointed)
        row["rollback"] = self.guard.after_round(row["reward_local"], row["entropy"])
        self.last_row = row
        # Checkpoint first, then the metrics line: a kill between them loses no work, and the restart
        # writes the missing line from the checkpoint (`restore_metrics`).
        if cfg.round.checkpoint_every and self.round % cfg.round.checkpoint_every == 0:
            self.checkpoint()
        self.metrics.log(row)
        self.vitals.observe(row, published)
        self.health.write(health_record(self, "running"))
        return row

    async def _generate_local(self, tasks: list[Task], r: int) -> list[list[Generation]]:
        seed = _derive_seed(self.config.round.seed, self.identity.peer_id, r)
        return await asyncio.to_thread(self.policy.generate, [t.question for t in tasks], self.config.sampler.completions_l, seed)

    def _score(self, task: Task, gens: list[Generation]) -> ScoredGroup:
        texts = tuple(g.text for g in gens)
        return ScoredGroup(task=task, texts=texts, rewards=tuple(self.reward_fn(task, texts)),
                           token_ids=tuple(g.token_ids for g in gens))

    async def _publish(self, r: int, local: list[ScoredGroup], generations: list[list[Generation]]) -> int:
        """Publish this round's groups; returns how many were published (0: none, or over the window's cap)."""
        if self.transport is None or not self.config.round.publish or not local:
            return 0
        groups = tuple(
            RolloutGroup(g.task.ref, g.task.question,
                         tuple(Completion(gen.text, gen.token_count, reward) for gen, reward in zip(gens, g.rewards)))
            for g, gens in zip(local, generations)
        )
        # The transport's clock decides the window (it is DHT time); the node only stamps it.
        batch = RolloutBatch(self.swarm_id, self.identity.peer_id, self.policy.name, self.transport.clock(), self.transport.window(),
                             f"r{r}-{os.urandom(6).hex()}", groups, round=r)
        try:
            async with asyncio.timeout(self.deadlines.publish_s):
                receipt = await self.transport.publish(batch)
        except TimeoutError:
            logger.warning("publish of round %d did not finish within %.1f s", r, self.deadlines.publish_s)
            return 0
        # nothing sent: held back over the window's cap (stats.skipped_publishes), or a silo transport
        return len(groups) if receipt.bytes_sent > 0 else 0

    def _window(self) -> int:
        """The current time window: the transport's (DHT time), or this host's clock for a node alone."""
        if self.transport is not None:
            return self.transport.window()
        return window_of(now(), self.window_seconds)

    async def _collect(self, external_j: int) -> list[RolloutBatch]:
        train = self.config.round.train
        if self.transport is None or (train and external_j == 0):
            return []
        try:
            async with asyncio.timeout(self.deadlines.collect_s):
                if not train:  # a generate-only node reads only who is there (announcements)
                    await self.transport.collect(max_batches=0)
                    return []
                # J batches hold far more than J groups; asking for more would only fetch bytes to drop
                return await self.transport.collect(max_batches=max(1, external_j))
        except TimeoutError:
            return []  # what was fetched stays in the transport's inbox for the next round

    async def _update(self, groups: list[ScoredGroup]) -> Any:
        if not self.config.round.train or self.algorithm is None or not groups:
            return None
        return await asyncio.to_thread(self.algorithm.update, groups)

    # ------------------------------------------------------------------ metrics

    def _metrics_row(self, r: int, local: list[ScoredGroup], selection: Any, stats: Any,
                     generations: list[list[Generation]], batches: list[RolloutBatch], timer: "_Timer") -> dict[str, Any]:
        local_rewards = [x for g in local for x in g.rewards]
        ext_rewards = [x for g in selection.external for x in g.rewards]
        tokens = sum(gen.token_count for gens in generations for gen in gens)
        transport_rejections = self.transport.rejections if self.transport is not None else Counter()
        return {
            "round": r, "time": time.time(), "peer_id": self.identity.peer_id, "model": self.policy.name,
            "reward_local": _mean(local_rewards), "reward_external": _mean(ext_rewards) if ext_rewards else None,
            "reward_by_question": [round(_mean(list(g.rewards)), 4) for g in local],
            "accuracy_local": _mean([1.0 if x >= 1.0 else 0.0 for x in local_rewards]),
            "loss": stats.loss if stats is not None else None,
            **{key: _finite(stats.extra.get(key)) if stats is not None else None for key in ("entropy", "grad_norm", "lr", "kl")},
            "local_groups": len(selection.local), "external_groups": len(selection.external),
            "external_candidates": selection.external_candidates,
            "kept_groups": len(selection.local) + len(selection.external),
            "zero_adv_local": selection.local_zero_advantage, "zero_adv_external": selection.external_zero_advantage,
            "peers_seen": len(self.transport.peers()) if self.transport is not None else 0,
            "batches_received": len(batches), "pool_size": len(self.pool),
            "publish_skipped": self.transport.stats.skipped_publishes if self.transport is not None else 0,
            "tokens_per_s": tokens / max(timer.seconds["generate"], 1e-9),
            **runtime_fields(self.policy, self.algorithm),  # device, compile_s, micro-batches, oom_backoffs, peak_gib
            **{f"t_{name}": round(sec, 4) for name, sec in timer.seconds.items()},
            "t_round": round(sum(timer.seconds.values()), 4),
            "rejections": dict(transport_rejections + self.intake_rejections),
        }

    def _ages(self, selection: Selection, window: int) -> dict[str, float | int | None]:
        """Age of the external groups trained on (windows since generated, sender rounds since) and of the
        replayed ones (this node's rounds since)."""
        peers = [g for g in selection.external if not is_replayed(g)]
        replayed = [self.round - g.origin.sender_round for g in selection.external if is_replayed(g)]
        ages = self.pool.ages(peers, window)
        return {"replayed_groups": len(replayed), "replay_size": len(self.replay),
                "replay_age_rounds_mean": sum(replayed) / len(replayed) if replayed else None,
                "external_age_windows_mean": ages.windows_mean, "external_age_windows_max": ages.windows_max,
                "external_age_rounds_mean": ages.rounds_mean, "external_age_rounds_max": ages.rounds_max}

    def _warn_if_no_external(self, r: int, selection: Selection, external_j: int) -> None:
        if not self.config.round.train or external_j == 0 or self.transport is None or selection.external:
            return
        self._rounds_without_external += 1
        if self._rounds_without_external in (1, 10) or self._rounds_without_external % 50 == 0:
            logger.warning("round %d trained on 0 external rollouts (J=%d; %d such rounds so far)",
                           r, external_j, self._rounds_without_external)


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _derive_seed(seed: int, peer_id: str, r: int) -> int:
    """Generation seed of a round: reproducible from (seed, peer id, round)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{peer_id}/{r}".encode()).digest()[:4], "big")


def _finite(x: float | None) -> float | None:
    """x, or None where it is missing or NaN (metrics are JSON)."""
    return None if x is None or x != x else float(x)


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else 0.0
