"""GRPO, the local update of the SAPO paper: group-normalised advantages, clipped ratio, no critic.

    algorithm = GRPOAlgorithm(AlgorithmConfig(lr=3e-4, epsilon_low=0.2, epsilon_high=0.28), policy)
    stats = algorithm.update(selection.local + selection.external)   # stats.extra["grad_norm"], ...

Where this departs from the papers (GRPO: DeepSeekMath arXiv 2402.03300; SAPO arXiv 2509.08721):
- One optimizer step per round on freshly generated rollouts, so old_logp = logp.detach(): the ratio
  is exactly 1 and the clip never binds; it is kept so the loss stays correct if a plug-in reuses
  rollouts for several steps. The gradient is then the plain advantage-weighted log-likelihood.
- Asymmetric clip (epsilon_low 0.2, epsilon_high 0.28: DAPO's "clip-higher", arXiv 2503.14476), as
  SAPO's runs use.
- No KL term unless beta > 0 (SAPO's setting is beta = 0); with beta > 0 the k3 estimator of
  DeepSeekMath eq. (4) against a frozen copy of the policy taken at construction.
- The std of a group is the population std (a group of one gets advantage 0 instead of NaN), plus
  eps = options.std_eps (default 1e-4, as TRL).
- Loss per sequence is the mean over its completion tokens, then the mean over sequences
  (DeepSeekMath eq. 3); external groups are re-tokenised by the local policy before this.

References: cleanrl `ppo.py` (the clipped loss, term by term); TRL `grpo_trainer.py` (`_compute_loss`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from node.algorithms.base import Algorithm, group_mean_std, masked_mean
from node.algorithms.options import GRPOOptions


class GRPOAlgorithm(Algorithm):
    """Group Relative Policy Optimization with the clipped surrogate of PPO."""

    Options = GRPOOptions
    zero_advantage_rows_are_inert = True  # the surrogate is -A * ratio: 0 for A = 0, clipped or not
    rows_are_independent = True  # each row's loss is its own tokens' mean

    def advantages(self, rewards: Tensor, group_index: Tensor) -> Tensor:
        # A_i = (r_i - mean(r_group)) / (std(r_group) + eps): DeepSeekMath section 4.1.2, "outcome supervision"
        mean, std = group_mean_std(rewards, group_index)
        return (rewards - mean) / (std + self.options.std_eps)

    def sequence_loss(self, logp: Tensor, old_logp: Tensor, ref_logp: Tensor | None, advantages: Tensor,
                      mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        # importance ratio pi_theta / pi_theta_old per token (PPO arXiv 1707.06347 eq. 6)
        log_ratio = logp - old_logp
        ratio = torch.exp(log_ratio)
        # one advantage per sequence, shared by all its tokens
        token_advantage = advantages.unsqueeze(1)
        # clipped surrogate, negated for gradient descent (PPO eq. 7; cleanrl ppo.py pg_loss1/pg_loss2)
        pg_loss_unclipped = -token_advantage * ratio
        pg_loss_clipped = -token_advantage * torch.clamp(ratio, 1.0 - self.config.epsilon_low, 1.0 + self.config.epsilon_high)
        pg_loss = torch.max(pg_loss_unclipped, pg_loss_clipped)
        token_loss = pg_loss
        kl = torch.zeros_like(logp)
        if ref_logp is not None:
            # k3 estimator of KL(pi_theta || pi_ref) (DeepSeekMath eq. 4): exp(ref - logp) - (ref - logp) - 1
            ref_log_ratio = ref_logp - logp
            kl = torch.exp(ref_log_ratio) - ref_log_ratio - 1.0
            token_loss = pg_loss + self.config.beta * kl
        clipped = ((ratio < 1.0 - self.config.epsilon_low) | (ratio > 1.0 + self.config.epsilon_high)).to(mask.dtype)
        metrics = {"clip_fraction": masked_mean(clipped, mask).detach(), "kl": masked_mean(kl, mask).detach()}
        return self.reduce_tokens(token_loss, mask), metrics

    def reduce_tokens(self, token_loss: Tensor, mask: Tensor) -> Tensor:
        """Per-sequence loss [b] from per-token loss [b, T]: GRPO's 1/|o_i| sum_t."""
        return masked_mean(token_loss, mask, dim=1)
