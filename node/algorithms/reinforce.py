"""REINFORCE with a group baseline: the simplest unbiased policy gradient on shared groups.

    algorithm = build_algorithm(AlgorithmConfig(type="reinforce"), policy)

loss_i = -(r_i - b_i) * sum_t log pi(o_i,t), with b_i the mean reward of the other completions of
the same question (leave-one-out, RLOO: Ahmadian et al. arXiv 2402.14740; Kool et al. 2019), which
keeps the estimator unbiased. No ratio, no clip; the KL term is added when beta > 0.
Departure: the sequence term is divided by options.max_completion_tokens when set (default 1), to
keep the learning rate comparable with GRPO's per-token mean.
"""

from __future__ import annotations

from torch import Tensor

from node.algorithms.base import Algorithm, group_mean_std, masked_mean
from node.algorithms.options import ReinforceOptions


class ReinforceAlgorithm(Algorithm):
    """REINFORCE with a leave-one-out group baseline."""

    Options = ReinforceOptions
    zero_advantage_rows_are_inert = True  # -A * sum_t log pi: 0 for A = 0
    rows_are_independent = True  # each row's loss is its own log-likelihood

    def advantages(self, rewards: Tensor, group_index: Tensor) -> Tensor:
        mean, _ = group_mean_std(rewards, group_index)
        size = (group_index.unsqueeze(0) == group_index.unsqueeze(1)).sum(dim=1).to(rewards.dtype)
        # b_i = (sum_group - r_i) / (n - 1); a group of one has no baseline and no signal
        leave_one_out = (mean * size - rewards) / (size - 1).clamp(min=1)
        return (rewards - leave_one_out) * (size > 1).to(rewards.dtype)

    def sequence_loss(self, logp: Tensor, old_logp: Tensor, ref_logp: Tensor | None, advantages: Tensor,
                      mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        sequence_logp = (logp * mask).sum(dim=1)
        pg_loss = -advantages * sequence_logp
        kl = (ref_logp - logp).exp() - (ref_logp - logp) - 1.0 if ref_logp is not None else logp.detach() * 0
        scale = float(self.options.max_completion_tokens or 1.0)
        loss = pg_loss / scale + self.config.beta * (kl * mask).sum(dim=1) / scale
        return loss, {"kl": masked_mean(kl, mask).detach()}
