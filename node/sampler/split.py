"""How many local (I) and external (J) groups each round uses: fixed, or moved by what the last rounds kept.

The node asks its split for (I, J) at the start of a round (`current`, given the configured values) and
tells it, after selection, how many of its own groups carried signal and how many informative external
candidates it saw (`observe`).

- "fixed": I = `sampler.local_i`, J = `sampler.external_j`, every round.
- "fill" (adaptive J): I stays fixed; after each round J = target - round(EMA of the informative local
  groups kept). The zero-advantage filter leaves slots of the update empty; J moves so that informative
  external groups fill them, so the update holds about `target` informative groups while local ones
  are scarce, and J falls as the node's own share grows. Round 0 uses `sampler.external_j`.
- "supply" (adaptive I and J, I + J = target): after each round but the first,
  E = EMA of the informative external candidates seen; J = clamp(round(E), j_min, target - i_min) and
  I = target - J. A node whose peers supply many informative groups generates less.

    >>> fill = FillSplit(FillOptions(target=24))
    >>> fill.current(16, 0)
    (16, 0)
    >>> fill.observe(0, local_kept=4, external_candidates=0, configured_j=0); fill.current(16, 0)
    (16, 20)
    >>> fill.observe(1, local_kept=6, external_candidates=30, configured_j=0); fill.current(16, 0)
    (16, 19)

These are the controllers the SAPO table measured (its "adaptive fill, I=16", "fill to 24" and
"adaptive supply" rows); they give the same (I, J) from the same kept counts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from node.registry import NoOptions, PluginOptions


class Split:
    """Fixed I and J; the base of the adaptive splits. Subclasses override `observe` and the state.

    Until a split sets I or J itself it answers the configured values, read anew every round."""

    Options: ClassVar[type[PluginOptions]] = NoOptions

    def __init__(self, options: PluginOptions | None = None) -> None:
        self.options = options if isinstance(options, self.Options) else self.Options()
        self.local_i: int | None = None
        self.external_j: int | None = None

    def current(self, local_i: int, external_j: int) -> tuple[int, int]:
        """(I, J) of the next round, given the configured I and J (`sampler.local_i`, `sampler.external_j`)."""
        return (local_i if self.local_i is None else self.local_i,
                external_j if self.external_j is None else self.external_j)

    def observe(self, round_index: int, local_kept: int, external_candidates: int, configured_j: int) -> None:
        """Called once per round after selection with the informative local groups kept, the informative
        external candidates seen and the configured J."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, so a restarted node resumes with the same (I, J)."""
        return {"local_i": self.local_i, "external_j": self.external_j}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.local_i, self.external_j = state.get("local_i"), state.get("external_j")


class FixedSplit(Split):
    """I and J as configured, every round."""


class FillOptions(PluginOptions):
    target: int = Field(16, ge=1, le=4096)
    """Informative groups per update the fill aims at (local kept + external)."""
    decay: float = Field(0.7, ge=0.0, lt=1.0)
    """EMA decay of the informative local groups kept per round (0: last round only)."""


class FillSplit(Split):
    """Adaptive J: fill the update up to `target` informative groups with peers' ones."""

    Options = FillOptions

    def __init__(self, options: PluginOptions | None = None) -> None:
        super().__init__(options)
        self.kept_local: float | None = None
        """EMA of the informative local groups kept per round (None before the first round)."""

    def observe(self, round_index: int, local_kept: int, external_candidates: int, configured_j: int) -> None:
        decay, kept = self.options.decay, float(local_kept)
        self.kept_local = kept if self.kept_local is None else decay * self.kept_local + (1 - decay) * kept
        self.external_j = max(0, self.options.target - round(self.kept_local))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "kept_local": self.kept_local}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.kept_local = state.get("kept_local")


class SupplyOptions(PluginOptions):
    target: int = Field(16, ge=2, le=4096)
    """I + J, the update's nominal size in groups."""
    i_min: int = Field(4, ge=1, le=4096)
    """Fewest local groups per round (the node keeps generating)."""
    j_min: int = Field(2, ge=0, le=4096)
    """Fewest external groups per round (> 0 keeps the node reading peers, so it sees supply return)."""
    decay: float = Field(0.7, ge=0.0, lt=1.0)
    """EMA decay of the informative external candidates seen per round."""

    @model_validator(mode="after")
    def _room(self) -> "SupplyOptions":
        if self.i_min + self.j_min > self.target:
            raise ValueError(f"i_min {self.i_min} + j_min {self.j_min} > target {self.target}: lower i_min or j_min")
        return self


class SupplySplit(Split):
    """Adaptive I and J: borrow what the swarm supplies, I + J = `target`."""

    Options = SupplyOptions

    def __init__(self, options: PluginOptions | None = None) -> None:
        super().__init__(options)
        self.supply: float | None = None
        """EMA of the informative external candidates; starts at the configured J."""

    def observe(self, round_index: int, local_kept: int, external_candidates: int, configured_j: int) -> None:
        total, decay = self.options.target, self.options.decay
        supply = float(configured_j) if self.supply is None else self.supply
        if round_index > 0:  # in round 0 peers have not published yet: keep the starting supply
            supply = decay * supply + (1 - decay) * external_candidates
            j = max(self.options.j_min, min(total - self.options.i_min, round(supply)))
        else:
            j = round(supply)
        self.supply, self.local_i, self.external_j = supply, total - j, j

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "supply": self.supply}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.supply = state.get("supply")
