"""The local learning step: one policy-gradient update per round on the selected I + J groups (one optimizer
step, or `config.iterations` steps on the same batch).

An algorithm fills two hooks; the base class does the plumbing (tokenised batch, micro-batches with
gradient accumulation, gradient clipping, Adam, an optional frozen reference policy):

    algorithm = build_algorithm(AlgorithmConfig(type="grpo", lr=3e-4), policy)
    stats = algorithm.update(selection.local + selection.external)   # once per round

Hooks: `advantages(rewards, group_index)` once per update over the whole batch (groups may straddle
micro-batches), and `sequence_loss(...)` once per micro-batch. `begin_update(batch)` is optional.

References: prime-rl `orchestrator/algo/base.py` (a small base with two hooks); cleanrl `ppo.py`.
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.autograd.graph import increment_version

from node.config import AlgorithmConfig
from node.models import lora
from node.oom import OOM_ERRORS, MicroBatch, OutOfMemory, memory_summary
from node.registry import NoOptions, PluginOptions, validate_options
from node.types import ScoredGroup, TokenBatch, UpdateStats

logger = logging.getLogger(__name__)

FUSED_ADAM_DEVICES = ("cpu", "cuda")
"""Devices whose parameters take the fused Adam step (elsewhere torch picks its default implementation)."""


class Algorithm(ABC):
    """A local update rule. Owns its Adam optimizer over `policy.parameters()`."""

    Options: ClassVar[type[PluginOptions]] = NoOptions
    """The model of this algorithm's `algorithm.options` (the registry reads it; a plug-in sets its own)."""

    zero_advantage_rows_are_inert: bool = False
    """True when a row with advantage 0 adds exactly 0 to the loss and its gradient, given beta = 0 (no KL
    against a reference, no per-row bonus). `update` then skips those rows' forward and backward passes and
    the step is the same. Peers' failures under `external_advantage: positive` are such rows: in a sparse
    regime most of an external group's 16 rows. A plug-in with per-row terms leaves this False; a subclass that
    overrides `sequence_loss` or `reduce_tokens` gets False unless it sets the flag itself."""

    rows_are_independent: bool = False
    """True when a row's loss depends only on that row (its tokens, masks, advantage and log-probs), never on
    the other rows of its micro-batch. `update` then runs one forward and backward pass per distinct row
    (same tokens, same completion mask, same advantage) and weights its loss by how many times it occurs: the
    same step up to float rounding (`config.merge_duplicates`). A small model's answers repeat a lot: in the
    SAPO table's sparse regime each distinct row stood for 3.2-3.7 rows that needed a gradient. Same default
    rule as `zero_advantage_rows_are_inert`: a subclass that changes the loss declares it itself."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        changes_loss = "sequence_loss" in cls.__dict__ or "reduce_tokens" in cls.__dict__
        for flag in ("zero_advantage_rows_are_inert", "rows_are_independent"):
            if changes_loss and flag not in cls.__dict__:
                setattr(cls, flag, False)

    def __init__(self, config: AlgorithmConfig, policy: Any) -> None:
        self.config = config
        self.options = validate_options(type(self).Options, config.options, f"algorithm {config.type!r}")
        """This algorithm's own options (`config.options` as `Options`)."""
        self.policy = policy
        parameters = list(policy.parameters())
        # One fused kernel for every tensor's step: on a 0.5M-parameter model on CPU, clip + step 3.2 -> 1.1 ms.
        fused = all(p.device.type in FUSED_ADAM_DEVICES and p.dtype.is_floating_point for p in parameters)
        self.optimizer = torch.optim.Adam(parameters, lr=config.lr, fused=fused or None)
        self.micro_batch = MicroBatch(config.micro_batch, what="update", model=getattr(policy, "name", "policy"),
                                      device=getattr(policy, "device", torch.device("cpu")))
        """Sequences per forward/backward pass (`config.micro_batch`), halved on an out-of-memory error."""
        self.reference = _reference(policy) if config.beta > 0 else None
        """The starting policy the KL term (beta > 0) is measured against; None at beta 0."""

    @abstractmethod
    def advantages(self, rewards: Tensor, group_index: Tensor) -> Tensor:
        """Called once per update with every row's reward [B] and group [B]; returns advantages [B]."""

    @abstractmethod
    def sequence_loss(self, logp: Tensor, old_logp: Tensor, ref_logp: Tensor | None, advantages: Tensor,
                      mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Called once per micro-batch with token log-probs [b, T] (logp has grad), advantages [b] and the
        completion mask [b, T]; returns the loss of each sequence [b] and scalar metrics. Only completion columns
        (mask 1) carry log-probs: under `model.shared_prompt_updates` the prompt's columns are 0."""

    def begin_update(self, batch: TokenBatch) -> None:
        """Called once per update with the whole batch, before any forward pass."""

    def update(self, groups: Sequence[ScoredGroup]) -> UpdateStats:
        """`config.iterations` optimizer steps on `groups` (the round's selection); the loss is the mean over
        sequences. Loss and metrics are those of the last step (its clip fraction shows how far it moved)."""
        if not groups:
            return UpdateStats(loss=0.0, num_sequences=0, num_tokens=0, extra={"skipped": 1.0})
        batch = self.policy.build_batch(groups)
        self.begin_update(batch)
        rewards = batch.rewards.float()
        advantages = self.advantages(rewards, batch.group_index).detach()
        if self.config.external_advantage == "positive":
            advantages = positive_for_external(advantages, groups, batch.group_index)
        rows = int(batch.input_ids.shape[0])
        active = self.rows_with_gradient(advantages)
        local = _is_local(groups, batch.group_index)
        needed = len(active)
        if self.config.merge_duplicates and self.rows_are_independent:
            active, counts = distinct_rows(batch, advantages, local, active)
        else:
            counts = torch.ones(len(active), dtype=advantages.dtype, device=advantages.device)
        old: dict[str, Tensor] = {}
        for _ in range(self.config.iterations):
            total_loss, metric_sums, grad_norm = self.micro_batch.run(
                lambda size: self._step(batch, active, counts, size, advantages, rows, old), len(active))
        extra = {"grad_norm": grad_norm, "reward_mean": float(rewards.mean()),
                 "entropy": sampled_entropy(old["logp"], batch.completion_mask[active], local[active], counts),
                 "lr": float(self.optimizer.param_groups[0]["lr"]),
                 "advantage_abs_mean": float(advantages.abs().mean()), "inert_rows_skipped": float(rows - needed),
                 "duplicate_rows_merged": float(needed - len(active)), **metric_sums}
        return UpdateStats(loss=total_loss, num_sequences=rows, num_tokens=int(batch.completion_mask.sum()), extra=extra)

    def _step(self, batch: TokenBatch, active: Tensor, counts: Tensor, size: int, advantages: Tensor, rows: int,
              old: dict[str, Tensor]) -> tuple[float, dict[str, float], float]:
        """One optimizer step over the `active` rows (each standing for `counts` identical rows), `size` rows per
        forward/backward pass. The first complete pass sets old["logp"] (the policy the batch is scored against);
        later steps reuse it. Redoable after an out-of-memory error: gradients are zeroed first, and the
        optimizer steps only once every pass is done."""
        first = "logp" not in old
        self.optimizer.zero_grad(set_to_none=True)
        total_loss, metric_sums, pieces = 0.0, {}, []
        for start in range(0, len(active), size):
            part = active[start:start + size]
            micro = _rows(batch, part)
            logp = self.policy.token_logprobs(micro)
            old_logp = logp.detach() if first else old["logp"][start:start + size]
            pieces.append(old_logp)
            per_sequence, metrics = self.sequence_loss(logp, old_logp, self._reference_logprobs(micro),
                                                       advantages[part], micro.completion_mask.to(logp.dtype))
            # sums over micro-batches to the mean over all sequences (skipped rows add exactly 0, a merged row
            # counts as many times as it occurred)
            weight = counts[start:start + size]
            loss = (per_sequence * weight).sum() / rows
            loss.backward()
            total_loss += float(loss.detach())
            for name, value in metrics.items():  # a skipped row's clip fraction and KL are 0
                metric_sums[name] = metric_sums.get(name, 0.0) + float(value) * float(weight.sum()) / rows
        if first:
            old["logp"] = torch.cat(pieces)
        return total_loss, metric_sums, self._optimizer_step()

    def _optimizer_step(self) -> float:
        """Clip and step. An out-of-memory error here is not retried: no micro-batch size would help, and Adam
        may have moved some weights already."""
        try:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], self.config.max_grad_norm)
            self.optimizer.step()
        except OOM_ERRORS as err:
            raise OutOfMemory(f"the optimizer step of {self.micro_batch.model} ran out of memory on "
                              f"{self.micro_batch.device} ({memory_summary(self.micro_batch.device)}): gradients and "
                              f"Adam state do not fit; choose a smaller model or set model.lora") from err
        if self.optimizer.defaults.get("fused"):
            # The fused kernel writes the weights without counting it in their `_version`, which is how the policy
            # sees that its sampling copy (bfloat16, or LoRA's merged weights) is stale: count the write here.
            for parameter in self.optimizer.param_groups[0]["params"]:
                increment_version(parameter)
        return float(grad_norm)

    def rows_with_gradient(self, advantages: Tensor) -> Tensor:
        """Indices of the rows that need a forward and backward pass: all of them, unless this algorithm's
        zero-advantage rows are inert (`zero_advantage_rows_are_inert` and no reference policy)."""
        if self.zero_advantage_rows_are_inert and self.reference is None:
            active = torch.nonzero(advantages != 0).flatten()
            if len(active):
                return active
        return torch.arange(len(advantages), device=advantages.device)

    def _reference_logprobs(self, micro: TokenBatch) -> Tensor | None:
        if self.reference is None:
            return None
        with torch.no_grad():
            return self.reference.token_logprobs(micro)

    def state_dict(self) -> dict[str, Any]:
        """Optimizer state for checkpoints (the reference policy is rebuilt from the base model)."""
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


def positive_for_external(advantages: Tensor, groups: Sequence[ScoredGroup], group_index: Tensor) -> Tensor:
    """Zero the negative advantages of rows from external groups.

    A peer's failures were sampled from *its* policy: pushing their probability down under ours moves
    mass to arbitrary other outputs, and in our runs it made a tiny-1.5m node sharing with a tiny-0.5m
    node lose reward; learning only from peers' successes kept it rising.
    """
    external = torch.tensor([not g.is_local for g in groups], device=advantages.device)[group_index]
    return torch.where(external, advantages.clamp(min=0.0), advantages)


def distinct_rows(batch: TokenBatch, advantages: Tensor, local: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
    """The first of each set of identical rows among `active`, and how many rows each stands for.

    Rows are identical when their tokens, completion masks, advantages and origin (local or a peer's) are:
    then their losses and gradients are too, so one pass weighted by the count gives the same step.
    Returns (indices [D], counts [D] in the advantages' dtype), in the order of first occurrence.
    """
    ids, completion = batch.input_ids.cpu().numpy(), batch.completion_mask.cpu().numpy()
    present = batch.attention_mask.cpu().numpy().astype(bool)
    values, origins = advantages.tolist(), local.tolist()
    first: dict[tuple[bytes, bytes, float, bool], int] = {}
    keep: list[int] = []
    counts: list[int] = []
    for row in active.tolist():
        key = (ids[row][present[row]].tobytes(), completion[row][present[row]].tobytes(), values[row], origins[row])
        slot = first.setdefault(key, len(keep))
        if slot == len(keep):
            keep.append(row)
            counts.append(0)
        counts[slot] += 1
    return (torch.tensor(keep, dtype=active.dtype, device=active.device),
            torch.tensor(counts, dtype=advantages.dtype, device=advantages.device))


def sampled_entropy(logp: Tensor, completion_mask: Tensor, local: Tensor, counts: Tensor | None = None) -> float:
    """Mean -log pi of this node's own sampled completion tokens under the policy before the step.

    ``logp`` [A, T]: the rows' token log-probs before the first step (the `_step` ``old["logp"]``);
    ``completion_mask`` [A, T] and ``local`` [A] (bool): the same rows' masks and whether each is this node's;
    ``counts`` [A]: how many identical rows each stands for (default 1).
    For tokens sampled from the policy itself (temperature 1) this is a Monte Carlo estimate of its
    per-token entropy, at no extra forward pass; peers' rows are left out (they were not sampled from
    this policy). NaN when the batch holds no local row.
    """
    mask = completion_mask.to(logp.dtype) * local.to(logp.dtype).unsqueeze(1)
    if counts is not None:
        mask = mask * counts.to(logp.dtype).unsqueeze(1)
    count = float(mask.sum())
    return float(-(logp * mask).sum()) / count if count else float("nan")


def _is_local(groups: Sequence[ScoredGroup], group_index: Tensor) -> Tensor:
    return torch.tensor([g.is_local for g in groups], device=group_index.device)[group_index]


def group_mean_std(values: Tensor, group_index: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's group mean and population std, broadcast back to rows [B].

    >>> mean, std = group_mean_std(torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.tensor([0, 0, 1, 1]))
    >>> mean.tolist(), std.tolist()
    ([0.5, 0.5, 1.0, 1.0], [0.5, 0.5, 0.0, 0.0])
    """
    _, inverse = torch.unique(group_index, return_inverse=True)
    zeros = torch.zeros(int(inverse.max()) + 1, dtype=values.dtype, device=values.device)
    count = zeros.index_add(0, inverse, torch.ones_like(values))
    total = zeros.index_add(0, inverse, values)
    mean = (total / count)[inverse]
    var = zeros.index_add(0, inverse, (values - mean) ** 2) / count
    return mean, var.sqrt()[inverse]


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean over positions where mask is 1 (0 where a row has no such position)."""
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def _rows(batch: TokenBatch, part: Tensor) -> TokenBatch:
    return TokenBatch(batch.input_ids[part], batch.attention_mask[part], batch.completion_mask[part],
                      batch.group_index[part], batch.rewards[part])


def _reference(policy: Any) -> Any:
    """The frozen starting policy: with LoRA, the same model with its adapters switched off (the base weights
    never train, so no copy is needed); otherwise a frozen copy taken now, before any update."""
    if lora.is_lora(getattr(policy, "model", None)):
        return _AdaptersOff(policy)
    return _frozen_copy(policy)


class _AdaptersOff:
    """`token_logprobs` of a LoRA policy's base model: peft's `disable_adapter()` around the policy's own."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def token_logprobs(self, batch: TokenBatch) -> Tensor:
        with self.policy.model.disable_adapter():
            return self.policy.token_logprobs(batch)


def _frozen_copy(policy: Any) -> Any:
    reference = copy.deepcopy(policy)
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference
