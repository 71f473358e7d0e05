"""Typed configuration of one SAPO node (the `node:` section of a YAML config).

Every field has its docstring directly below it: that text is the only documentation of the option
and is what `swarm ... --help` shows. Plug-in sections (sampler, algorithm) are chosen by `type`,
a registry key, never an import path.

    >>> cfg = NodeConfig.model_validate({"sampler": {"local_i": 4, "external_j": 4}})
    >>> cfg.sampler.local_i, cfg.algorithm.type
    (4, 'grpo')

Reference: prime-rl `configs/` (pydantic, attribute docstrings, bounds in Field).
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = Union[str, int, float, bool, None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class ModelConfig(_Strict):
    name: str = "tiny-0.5m"
    """A preset (tiny-0.5m, tiny-1.5m, tiny-6m, tiny-16m, smollm2-135m), a local model folder, or a hub id."""
    device: str = "auto"
    """auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Dtype forward passes compute in (torch.autocast); auto is bfloat16 on cuda and float32 elsewhere.
    Weights and optimizer state stay float32, so small learning-rate updates are not rounded away.
    float16 has no loss scaling here: train in bfloat16."""
    allow_download: bool = False
    """Allow fetching a hub id from the network. Presets and local folders never download."""
    cache_dir: str | None = None
    """Where built tiny models are cached (default: ~/.cache/sapo-swarm/models)."""
    max_new_tokens: int = Field(6, ge=1, le=8192)
    """Most tokens generated per completion."""
    temperature: float = Field(1.0, gt=0.0, le=5.0)
    """Sampling temperature."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    warm_start_steps: int | None = Field(None, ge=0, le=100_000)
    """Supervised warm-start steps for tiny presets (None: the preset's default)."""
    warm_start_families: list["TaskFamilyConfig"] | None = None
    """Tasks a tiny preset's tokenizer and warm start are made from (None: 2-term, 1-digit chain_sum).
    Independent of the tasks the node trains on, so nodes with different task mixes share one model."""
    threads: int | None = Field(None, ge=1, le=256)
    """torch CPU threads for this node (None: leave torch's default)."""


class TaskFamilyConfig(_Strict):
    name: str = "chain_sum"
    """A reasoning-gym dataset name."""
    config: dict[str, Scalar] = Field(default_factory=dict)
    """Keyword arguments of the dataset (flat scalars), e.g. {min_terms: 2, max_terms: 2}."""
    weight: float = Field(1.0, gt=0.0)
    """Relative share of this family among the node's drawn tasks."""


class TasksConfig(_Strict):
    families: list[TaskFamilyConfig] = Field(
        default_factory=lambda: [
            TaskFamilyConfig(name="chain_sum", config={"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1})
        ],
        min_length=1,
    )
    """Task families this node draws from (nodes may specialise)."""
    dataset_seed: int = Field(0, ge=0)
    """Seed of every family's procedural dataset, shared by the swarm so receivers can rebuild tasks."""
    dataset_size: int = Field(1_000_000, ge=1, le=2**31)
    """Index range drawn from in each family."""
    accept_generators: list[str] | None = None
    """Generators whose peer tasks this node rebuilds and trains on. None: only its own families'
    generators (some reasoning-gym generators take seconds per item: an open list lets a peer make
    us burn CPU); ["*"]: any reasoning-gym generator."""


class RewardsConfig(_Strict):
    format_weight: float = Field(0.0, ge=0.0, le=1.0)
    """Weight of the format reward; the answer reward gets 1 - format_weight."""


class SamplerConfig(_Strict):
    type: str = "uniform"
    """Selection strategy for external groups (registry key)."""
    local_i: int = Field(8, ge=0, le=1024)
    """I: local rollout groups per update (also the groups this node generates each round)."""
    external_j: int = Field(8, ge=0, le=1024)
    """J: external rollout groups per update, sampled from peers; 0 means local-only training."""
    completions_l: int = Field(16, ge=1, le=256)
    """L: completions generated per question."""
    drop_zero_advantage: bool = True
    """Drop groups whose rewards are all equal before sampling (they carry no signal)."""
    accept_free_text: bool = False
    """Train on external free-text tasks that cannot be rebuilt and re-scored."""
    max_external_pool: int = Field(1024, ge=1)
    """Most external groups held between rounds; older ones are dropped first."""
    seed: int = 0
    """Seed of the external-sampling generator (its own stream, apart from task draws)."""
    options: dict[str, Scalar] = Field(default_factory=dict)
    """Strategy-specific options."""

    @model_validator(mode="after")
    def _some_groups(self) -> "SamplerConfig":
        if self.local_i + self.external_j == 0:
            raise ValueError("sampler.local_i + sampler.external_j is 0: set local_i >= 1 or external_j >= 1")
        return self


class AlgorithmConfig(_Strict):
    type: str = "grpo"
    """Local learning algorithm (registry key or entry point name in `sapo_swarm.algorithms`)."""
    lr: float = Field(3e-4, gt=0.0, le=1.0)
    """Adam learning rate."""
    epsilon_low: float = Field(0.2, ge=0.0, le=1.0)
    """Lower clip of the importance ratio (1 - epsilon_low)."""
    epsilon_high: float = Field(0.28, ge=0.0, le=10.0)
    """Upper clip of the importance ratio (1 + epsilon_high)."""
    beta: float = Field(0.0, ge=0.0)
    """KL penalty weight against the reference policy; 0 disables it (the paper's setting)."""
    max_grad_norm: float = Field(1.0, gt=0.0)
    """Gradient clipping norm."""
    external_advantage: Literal["signed", "positive"] = "signed"
    """How peers' groups teach: "signed" uses every advantage (the paper); "positive" keeps only their
    better-than-average completions, so another model's failures never push this model around."""
    iterations: int = Field(1, ge=1, le=16)
    """Optimizer steps on each round's batch (GRPO's mu, TRL's num_iterations). Steps after the first keep the
    first pass's log-probs as the old policy, so the clipped importance ratio bounds how far they move."""
    micro_batch: int = Field(64, ge=1)
    """Sequences per forward/backward pass (gradient accumulation across micro-batches)."""
    options: dict[str, Scalar] = Field(default_factory=dict)
    """Algorithm-specific options for plug-ins."""


class RoundConfig(_Strict):
    rounds: int = Field(60, ge=1)
    """Rounds to run before stopping (a restarted node continues to this total)."""
    collect_timeout_s: float = Field(2.0, gt=0.0, le=600.0)
    """Longest a round waits for peers' rollouts; the node never waits longer."""
    train: bool = True
    """False: generate and publish only (hardware that cannot train)."""
    publish: bool = True
    """Publish this node's rollouts to the swarm."""
    checkpoint_every: int = Field(1, ge=0)
    """Write a checkpoint every N rounds and after the last one (0: never)."""
    wait_for_peers: int = Field(0, ge=0, le=1024)
    """Before the first round, wait until this many peers are seen (a testnet's nodes start together)."""
    wait_for_peers_s: float = Field(60.0, ge=0.0)
    """Longest wait for `wait_for_peers`; then the node starts with whoever is there."""
    min_round_s: float = Field(0.0, ge=0.0, le=3600.0)
    """Shortest round: a node faster than this waits out the rest, so it does not outrun its peers
    (whose rollouts it learns from) or its publish quota per window. 0: no pacing."""
    seed: int = 0
    """Seed of this node's generation and task draws."""
    rollback_on_collapse: bool = True
    """On a sustained fall of the reward from its peak (see collapse_drop): restore the best checkpoint and
    multiply the learning rate by collapse_lr_factor (`node.collapse`). False: only warn."""
    collapse_window: int = Field(100, ge=5, le=100_000)
    """Rounds in the reward moving average that the collapse guard watches."""
    collapse_drop: float = Field(0.3, gt=0.0, lt=1.0)
    """A collapse: the moving average stays below (1 - collapse_drop) x its peak for collapse_window rounds."""
    collapse_lr_factor: float = Field(0.5, gt=0.0, le=1.0)
    """Learning-rate multiplier applied at each rollback."""


class NodeConfig(_Strict):
    model: ModelConfig = Field(default_factory=ModelConfig)
    """The policy."""
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    """Where questions come from."""
    rewards: RewardsConfig = Field(default_factory=RewardsConfig)
    """How completions are scored."""
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    """SAPO's selection of I local and J external groups."""
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig)
    """The local learning step."""
    round: RoundConfig = Field(default_factory=RoundConfig)
    """The round loop."""


ModelConfig.model_rebuild()
