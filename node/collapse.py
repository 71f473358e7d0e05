"""The collapse guard: notice a sustained fall of a node's reward from its peak, then roll back.

`CollapseDetector` is pure: feed it each round's reward (and entropy) and it says when the moving
average reached a new peak and when it has stayed far below that peak long enough to call it a
collapse. `CollapseGuard` acts on it for a node: it keeps the best policy (on disk beside the
checkpoint, or in memory), and on a collapse logs a warning and, with ``round.rollback_on_collapse``,
restores that best state and multiplies the learning rate by ``round.collapse_lr_factor``.

    >>> d = CollapseDetector(window=10, drop=0.3)
    >>> events = [d.observe(0.5, None) for _ in range(30)] + [d.observe(0.1, None) for _ in range(20)]
    >>> events.index("collapse") - 30   # the average must fall below 0.35, then stay there window // 2 rounds
    7

Why a guard at all: with the old join defaults (lr 3e-4) tiny nodes rose for ~500 rounds, then lost most
of their reward with nobody watching (issue "Left alone for days"; `python -m benchmarks.collapse_study`).
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from pathlib import Path
from typing import Any, Literal

from node.checkpoint import load_checkpoint, save_checkpoint
from node.health import collapse_line

logger = logging.getLogger(__name__)

Event = Literal["none", "new_peak", "collapse"]
BEST_NAME = "best.pt"


class CollapseDetector:
    """Moving averages of reward and entropy over `window` rounds, their peak, and the collapse rule:
    the reward average stays below `collapse_line` (peak less its share `drop`) for ``window // 2`` rounds."""

    def __init__(self, window: int, drop: float) -> None:
        self.window, self.drop, self.patience = window, drop, max(1, window // 2)
        self.rewards: deque[float] = deque(maxlen=window)
        self.entropies: deque[float] = deque(maxlen=window)
        self.peak: float | None = None
        """Highest full-window reward average so far."""
        self.entropy_at_peak: float | None = None
        self.below = 0
        """Consecutive rounds under the collapse line."""

    @property
    def mean(self) -> float | None:
        return sum(self.rewards) / len(self.rewards) if self.rewards else None

    @property
    def entropy(self) -> float | None:
        return sum(self.entropies) / len(self.entropies) if self.entropies else None

    @property
    def line(self) -> float | None:
        """The reward average under which a round counts towards a collapse."""
        return None if self.peak is None else collapse_line(self.peak, self.drop)

    def observe(self, reward: float, entropy: float | None) -> Event:
        """Called once per round with its mean reward and entropy estimate (None when not trained)."""
        self.rewards.append(reward)
        if entropy is not None:
            self.entropies.append(entropy)
        if len(self.rewards) < self.window:
            return "none"
        mean = self.mean
        if self.peak is None or mean > self.peak:
            self.peak, self.entropy_at_peak, self.below = mean, self.entropy, 0
            return "new_peak"
        self.below = self.below + 1 if mean < self.line else 0
        if self.below >= self.patience:
            self.restart()
            return "collapse"
        return "none"

    def restart(self) -> None:
        """Forget the recent rounds (after a rollback they describe a policy that is gone); keep the peak."""
        self.rewards.clear()
        self.entropies.clear()
        self.below = 0

    def state_dict(self) -> dict[str, Any]:
        return {"rewards": list(self.rewards), "entropies": list(self.entropies), "peak": self.peak,
                "entropy_at_peak": self.entropy_at_peak, "below": self.below}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rewards.extend(state["rewards"])
        self.entropies.extend(state["entropies"])
        self.peak, self.entropy_at_peak, self.below = state["peak"], state["entropy_at_peak"], state["below"]


class CollapseGuard:
    """Keeps a node's best state and rolls back to it on a collapse (see module docstring).

    `node` is anything with ``policy``, ``algorithm`` (or None) and ``round``; `best_dir` is where
    ``best.pt`` goes (None: kept in memory)."""

    def __init__(self, node: Any, window: int, drop: float, rollback: bool, lr_factor: float,
                 best_dir: Path | None) -> None:
        self.node, self.rollback, self.lr_factor, self.best_dir = node, rollback, lr_factor, best_dir
        self.detector = CollapseDetector(window, drop)
        self.min_save_gap = window
        """Fewest rounds between two saves of the best state while the average keeps climbing: a save writes the
        policy and its optimizer state (three copies of the weights), and a collapse takes longer than a window
        to call, so a best state up to one window old is close enough."""
        self.best_round: int | None = None
        self._best_in_memory: dict[str, Any] | None = None
        self.collapses = 0
        self.rollbacks: list[dict[str, Any]] = []
        """One entry per rollback: round, restored round, reward average and peak, learning rates."""

    def after_round(self, reward: float, entropy: float | None) -> dict[str, Any] | None:
        """Called once per finished round; returns the rollback it made (also logged), if any."""
        event = self.detector.observe(reward, entropy)
        if event == "new_peak" and self.node.algorithm is not None:
            if self.best_round is None or self.node.round - self.best_round >= self.min_save_gap:
                self._save_best()
        if event != "collapse":
            return None
        return self._on_collapse()

    # ------------------------------------------------------------------ actions

    def _on_collapse(self) -> dict[str, Any] | None:
        d = self.detector
        self.collapses += 1
        entropy = "" if d.entropy_at_peak is None else f"; entropy at the peak {d.entropy_at_peak:.3f}"
        what = (f"reward collapse at round {self.node.round}: the {d.window}-round average stayed below "
                f"{d.line:.3f} for {d.patience} rounds (peak {d.peak:.3f}{entropy})")
        best = self._load_best() if self.rollback and self.node.algorithm is not None else None
        if best is None:
            logger.warning("%s; %s", what, "no rollback (round.rollback_on_collapse is off)" if not self.rollback
                           else "no best state to roll back to")
            return None
        old_lr = self._lr()
        self.node.policy.load_state_dict(best["policy"])
        self.node.algorithm.load_state_dict(best["algorithm"])
        new_lr = old_lr * self.lr_factor
        self._set_lr(new_lr)
        record = {"round": self.node.round, "restored_round": best["round"], "peak": d.peak,
                  "lr_before": old_lr, "lr_after": new_lr}
        self.rollbacks.append(record)
        logger.warning("%s; restored the best state (round %d) and lowered the learning rate %.2e -> %.2e",
                       what, best["round"], old_lr, new_lr)
        return record

    def _lr(self) -> float:
        return float(self.node.algorithm.optimizer.param_groups[0]["lr"])

    def _set_lr(self, lr: float) -> None:
        for group in self.node.algorithm.optimizer.param_groups:
            group["lr"] = lr

    def _save_best(self) -> None:
        state = {"round": self.node.round, "policy": self.node.policy.state_dict(),
                 "algorithm": self.node.algorithm.state_dict()}
        self.best_round = self.node.round
        if self.best_dir is None:
            self._best_in_memory = copy.deepcopy(state)
        else:
            save_checkpoint(self.best_dir, state, name=BEST_NAME)

    def _load_best(self) -> dict[str, Any] | None:
        if self.best_dir is None:
            return self._best_in_memory
        return load_checkpoint(self.best_dir, name=BEST_NAME)

    # ------------------------------------------------------------------ reporting and checkpoints

    def health(self) -> dict[str, Any]:
        """The guard's part of health.json."""
        d = self.detector
        state = "ok" if d.line is None or d.mean is None or d.mean >= d.line else "falling"
        return {"state": state, "reward_mean": d.mean, "reward_peak": d.peak, "line": d.line, "entropy_mean": d.entropy,
                "entropy_at_peak": d.entropy_at_peak, "best_round": self.best_round, "collapses": self.collapses,
                "rollbacks": self.rollbacks[-10:], "rollback_count": len(self.rollbacks),
                "lr": self._lr() if self.node.algorithm is not None else None}

    def state_dict(self) -> dict[str, Any]:
        return {"detector": self.detector.state_dict(), "best_round": self.best_round,
                "collapses": self.collapses, "rollbacks": self.rollbacks}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.detector.load_state_dict(state["detector"])
        self.best_round, self.collapses, self.rollbacks = state["best_round"], state["collapses"], state["rollbacks"]
