"""Dr. GRPO ("GRPO Done Right", arXiv 2503.20783): GRPO without its two normalisation biases.

    algorithm = build_algorithm(AlgorithmConfig(type="dr_grpo", options={"max_completion_tokens": 6}), policy)

Two changes, each a method override (no loss-type switch):
- advantages are r - mean(r_group), with no division by the group's std (the std favours groups
  that are nearly all right or all wrong);
- the loss of a sequence is the sum over its tokens divided by a constant, not by its own length
  (length normalisation favours long wrong answers).

Departure: the paper's constant is the generation budget. Here it is options.max_completion_tokens
when set; otherwise the longest completion in this update's batch, which removes the length bias
within a round but lets the scale vary a little between rounds.
"""

from __future__ import annotations

from torch import Tensor

from node.algorithms.base import group_mean_std
from node.algorithms.grpo import GRPOAlgorithm
from node.algorithms.options import DrGRPOOptions
from node.types import TokenBatch


class DrGRPOAlgorithm(GRPOAlgorithm):
    """GRPO with unnormalised group advantages and a constant token normaliser."""

    Options = DrGRPOOptions
    token_constant: float = 1.0
    zero_advantage_rows_are_inert = True  # a zero token loss sums to 0 over any constant
    rows_are_independent = True  # the constant is the whole batch's, set before any pass

    def begin_update(self, batch: TokenBatch) -> None:
        fixed = self.options.max_completion_tokens
        longest = float(batch.completion_mask.sum(dim=1).max())
        self.token_constant = float(fixed) if fixed else max(1.0, longest)

    def advantages(self, rewards: Tensor, group_index: Tensor) -> Tensor:
        mean, _ = group_mean_std(rewards, group_index)
        return rewards - mean

    def reduce_tokens(self, token_loss: Tensor, mask: Tensor) -> Tensor:
        return (token_loss * mask).sum(dim=1) / self.token_constant
