"""Typed options of the built-in algorithms (`algorithm.options`), importable without torch.

The config validates `algorithm.options` against the model of the algorithm `algorithm.type` names
when it is loaded, so this module must not import torch (a bootstrap peer loads configs too). Each
algorithm class names its model in `Options`; a plug-in does the same with its own model.

    >>> DrGRPOOptions(max_completion_tokens=6)
    DrGRPOOptions(max_completion_tokens=6)
"""

from __future__ import annotations

from pydantic import Field

from node.registry import PluginOptions


class GRPOOptions(PluginOptions):
    std_eps: float = Field(1e-4, ge=0.0, le=1.0)
    """Added to a group's reward std before dividing (TRL's default; a group of one gets advantage 0)."""


class DrGRPOOptions(PluginOptions):
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    """Constant each sequence's token-loss sum is divided by (the paper's generation budget); None: the
    longest completion of this update's batch."""


class ReinforceOptions(PluginOptions):
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    """Divide each sequence's log-likelihood term by this (keeps the lr comparable with GRPO); None: 1."""
