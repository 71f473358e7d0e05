"""Defences against poisoned rollouts: checks on peers' completions after re-scoring, before selection.

`build_defences(config, policy)` builds the chain a node runs once a round (`node.round` calls
`DefenceChain.screen` right after `node.intake.rescore_external`), from the `defences:` section of its config:

    >>> from node.config import NodeConfig
    >>> chain = build_defences(NodeConfig(), policy=None)
    >>> [d.name for d in chain.defences], type(chain.gate).__name__
    (['shape'], 'PeerTrust')

Plug-ins, in the order they run (each has its own config key and its own counters in the metrics row):
- `peer_trust` (`PeerTrust`, on): fewer, then no, groups from peers whose groups keep being flagged;
- `shape` (`ShapeDefence`, on): the whole completion is an answer in a shape the task accepts, within the
  task's tolerance (`node.tasks.shapes`) and this node's `max_new_tokens`;
- `plausibility` (`PlausibilityDefence`, off by default): per-token log-probs under this node's own policy,
  calibrated on its own completions;
- `judge` (`JudgeDefence`, none ships): any registered judge model (`register_judge`).
`DEFENCES` maps each content check's name to its builder; `register_defence` adds one.

Reference: prime-rl `orchestrator/algo/__init__.py` (a dict registry and a build function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.config import NodeConfig
from node.defences.base import Defence, DefenceChain, Flags, TrustGate
from node.defences.judge import JUDGES, Judge, JudgeDefence, build_judge_defence, register_judge
from node.defences.peer_trust import PeerTrust
from node.defences.plausibility import STATISTICS, PlausibilityDefence, lowest_token_logprob, mean_token_logprob
from node.defences.shape import ShapeDefence, extra_chars, token_counter, unwrap

DefenceBuilder = Callable[[NodeConfig, Any], "Defence | None"]
"""(node config, policy) -> the defence, or None when the config turns it off."""


def _shape(config: NodeConfig, policy: Any) -> Defence | None:
    cfg = config.defences.shape
    if not cfg.enabled:
        return None
    tokenizer = getattr(policy, "tokenizer", None)
    return ShapeDefence(token_counter(tokenizer) if tokenizer is not None else None,
                        config.model.max_new_tokens + cfg.token_slack, cfg.max_extra_chars, text_checks=cfg.text_checks)


def _plausibility(config: NodeConfig, policy: Any) -> Defence | None:
    cfg = config.defences.plausibility
    if not cfg.enabled:
        return None
    if policy is None:
        raise ValueError("defences.plausibility needs this node's policy (it scores completions under it)")
    statistic = STATISTICS[cfg.statistic]
    return PlausibilityDefence(lambda pairs: statistic(policy, pairs), quantile=cfg.quantile,
                               margin_nats=cfg.margin_nats, window=cfg.window, min_calibration=cfg.min_calibration,
                               own_per_round=cfg.own_per_round, rewarded_only=cfg.rewarded_only)


def _judge(config: NodeConfig, policy: Any) -> Defence | None:
    cfg = config.defences.judge
    return None if cfg.type is None else build_judge_defence(cfg.type, cfg.options, policy)


DEFENCES: dict[str, DefenceBuilder] = {"shape": _shape, "plausibility": _plausibility, "judge": _judge}
"""Content checks in the order they run; cheap ones first, so costly ones see fewer completions."""


def register_defence(name: str, builder: DefenceBuilder) -> None:
    """Add a content check (it runs after the built-in ones, in registration order)."""
    DEFENCES[name] = builder


def build_defences(config: NodeConfig, policy: Any) -> DefenceChain:
    """The node's defence chain. A node that takes no external groups (J = 0) gets an empty one."""
    cfg = config.defences
    built = [builder(config, policy) for builder in DEFENCES.values()]
    gate = PeerTrust(cfg.peer_trust.tolerate_drop_rate, cfg.peer_trust.ban_drop_rate,
                     cfg.peer_trust.min_groups) if cfg.peer_trust.enabled else None
    return DefenceChain([d for d in built if d is not None], group_drop_share=cfg.group_drop_share, gate=gate,
                        signal_matters=config.sampler.drop_zero_advantage, seed=config.sampler.seed)


__all__ = [
    "DEFENCES", "JUDGES", "Defence", "DefenceChain", "Flags", "Judge", "JudgeDefence", "PeerTrust",
    "PlausibilityDefence", "ShapeDefence", "TrustGate", "build_defences", "build_judge_defence", "extra_chars",
    "lowest_token_logprob", "mean_token_logprob", "register_defence", "register_judge", "token_counter", "unwrap",
]
