"""The `defences:` section of a node config: checks on peers' completions after re-scoring, before selection
(`node.defences` builds the chain from it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from node.config.base import Scalar, Strict


class ShapeDefenceConfig(Strict):
    enabled: bool = True
    """Drop external completions that are not a whole answer in a shape the task accepts (`node.tasks.shapes`),
    or longer than this node's own `model.max_new_tokens` once re-tokenized."""
    max_extra_chars: int | None = Field(None, ge=0, le=10_000)
    """Characters allowed beyond the answer and its wrapper; None: the task family's own tolerance."""
    token_slack: int = Field(0, ge=0, le=8192)
    """Tokens allowed beyond `model.max_new_tokens` after re-tokenizing (another tokenizer may split text finer)."""
    text_checks: bool = True
    """Check the text (extra text beyond the answer, partial credit); false: only the token limit. Turn them off
    for a model that answers in sentences (its own paid answers fail them, and so do its honest peers'), and let
    the plausibility check (statistic: mean, rewarded_only: true) look at the text instead."""


class PlausibilityDefenceConfig(Strict):
    enabled: bool = False
    """Drop external completions far less likely under this node's policy than its own completions (a forward pass
    per scored external completion: see `node.defences.plausibility`)."""
    statistic: Literal["mean", "min"] = "mean"
    """A completion's score: the mean of its token log-probs, or the lowest one. The mean separates every planting
    attack on both the tiny models and SmolLM2-135M; at its calibrated floor the lowest catches none of the trigger
    attacks on either (a pretrained LM's own sampled sentences hold tokens at -30 nats):
    `benchmarks/results/poison/calibration*.json`."""
    rewarded_only: bool = True
    """Calibrate on, and check, only completions with reward > 0 (the ones a positive advantage teaches)."""
    quantile: float = Field(0.005, gt=0.0, lt=0.5)
    """Calibration quantile of the scores of the node's own completions."""
    margin_nats: float = Field(0.5, ge=0.0, le=100.0)
    """How far below that quantile (in nats; per token for the mean) a completion's score may fall before it is
    dropped. Measured for the mean of paid completions at 0.5: 94-100% of the a-d attacks caught on the tiny models,
    87-100% of a, b and d on SmolLM2, at most 1.2% of a peer's paid honest completions dropped. For `min`, about 4."""
    window: int = Field(4096, ge=16, le=1_000_000)
    """Own completions' scores kept for calibration (the most recent)."""
    min_calibration: int = Field(64, ge=1)
    """Own completions scored before the check drops anything (until then it only calibrates)."""
    own_per_round: int = Field(32, ge=1, le=4096)
    """Distinct own completions scored per round for calibration."""


class PeerTrustConfig(Strict):
    enabled: bool = True
    """Take fewer, then no, groups from peers whose groups the other defences keep dropping (`node.peer_ledger`
    counts the drops, with its decay, so a peer that stops recovers)."""
    tolerate_drop_rate: float = Field(0.1, ge=0.0, le=1.0)
    """A peer's smoothed share of dropped groups up to which every group of it is admitted."""
    ban_drop_rate: float = Field(0.3, gt=0.0, le=1.0)
    """Share of dropped groups from which none of the peer's groups is admitted (between the two: admitted with
    a probability falling linearly from 1 to 0)."""
    min_groups: float = Field(8.0, ge=0.0)
    """Decayed inspected groups of a peer below which its drop rate is not acted on (a refused peer's evidence
    decays to this, then it is inspected again)."""

    @model_validator(mode="after")
    def _ordered(self) -> "PeerTrustConfig":
        if self.ban_drop_rate <= self.tolerate_drop_rate:
            raise ValueError(f"defences.peer_trust.ban_drop_rate ({self.ban_drop_rate}) must exceed tolerate_drop_rate "
                             f"({self.tolerate_drop_rate}): raise ban_drop_rate or lower tolerate_drop_rate")
        return self


class JudgeDefenceConfig(Strict):
    type: str | None = None
    """A registered judge (`node.defences.judge.register_judge`); None: no judge (none ships)."""
    options: dict[str, Scalar] = Field(default_factory=dict)
    """Options handed to the judge's factory."""


class DefencesConfig(Strict):
    shape: ShapeDefenceConfig = Field(default_factory=ShapeDefenceConfig)
    """Whole-answer shape and length of external completions."""
    plausibility: PlausibilityDefenceConfig = Field(default_factory=PlausibilityDefenceConfig)
    """Per-token log-probs of external completions under this node's own policy."""
    peer_trust: PeerTrustConfig = Field(default_factory=PeerTrustConfig)
    """Fewer groups from peers whose groups keep being dropped."""
    judge: JudgeDefenceConfig = Field(default_factory=JudgeDefenceConfig)
    """An optional judge model."""
    group_drop_share: float = Field(0.5, ge=0.0, le=1.0)
    """A group loses its flagged completions; when more than this share of them is flagged, the whole group is
    dropped (and counted against its sender)."""
