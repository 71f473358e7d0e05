"""Typed configuration of one SAPO node (the `node:` section of a YAML config).

Every field has its docstring directly below it: that text is the only documentation of the option
and is what `swarm ... --help` shows. Plug-in sections (sampler, algorithm) are chosen by `type`,
a registry key, never an import path.

    >>> cfg = NodeConfig.model_validate({"sampler": {"local_i": 4, "external_j": 4}})
    >>> cfg.sampler.local_i, cfg.algorithm.type
    (4, 'grpo')

Each plug-in's `options` are typed by the model its registry entry declares, chosen by `type`:

    >>> NodeConfig.model_validate({"sampler": {"type": "fresh_uniform", "options": {"recent": 32}}}).sampler.options
    FreshUniformOptions(recent=32)

Reference: prime-rl `configs/` (pydantic, attribute docstrings, bounds in Field).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SerializeAsAny, model_validator

from node.config.base import PluginSection, Scalar, Strict
from node.config.defences import (DefencesConfig, JudgeDefenceConfig, PeerTrustConfig, PlausibilityDefenceConfig,
                                  ShapeDefenceConfig)
from node.registry import PluginOptions


class ModelConfig(Strict):
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
    generation: Literal["eager", "compiled"] = "eager"
    """Decode path. eager: a growing KV cache, one Python-driven forward per token. compiled: a
    pre-allocated static KV cache and a torch.compile'd decode step (CUDA graphs on cuda), compiled once
    per process and batch shape, then reused every round; the compile seconds are logged and reported
    in metrics (`compile_s`). Same tokens as eager for the same seeds (up to float rounding)."""
    generate_micro_batch: int | None = Field(None, ge=1, le=65536)
    """Rows sampled per decode batch (None: all of a round's I x L rows at once). Halved for the rest of
    the run when a CUDA out-of-memory error hits generation."""
    shared_prompt_updates: bool = True
    """Training forward passes run each distinct prompt of a micro-batch once and hand its keys and values
    to every row with that prompt (a group's completions share theirs), instead of running every row's
    prompt again. The same log-probs up to float rounding; false: every row runs whole."""
    lora: "LoraConfig | None" = None
    """Train LoRA adapters instead of every weight (needs the `[lora]` extra, i.e. peft): for models whose
    full update does not fit. Generation runs on the merged weights, refreshed after each update."""
    build_seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of a tiny preset's build (tokenizer texts, init and warm start): another seed is another
    warm-started model, cached apart. 0 is the build every testnet uses."""


class LoraConfig(Strict):
    r: int = Field(16, ge=1, le=4096)
    """Rank of each adapter's update B A."""
    alpha: float = Field(32.0, gt=0.0)
    """The update is scaled by alpha / r."""
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1)
    """Names of the linear layers that get an adapter (the last part of the module name)."""


class TaskFamilyConfig(Strict):
    name: str = "chain_sum"
    """A reasoning-gym dataset name."""
    config: dict[str, Scalar] = Field(default_factory=dict)
    """Keyword arguments of the dataset (flat scalars), e.g. {min_terms: 2, max_terms: 2}."""
    weight: float = Field(1.0, gt=0.0)
    """Relative share of this family among the node's drawn tasks."""


class TasksConfig(Strict):
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


class RewardsConfig(Strict):
    format_weight: float = Field(0.0, ge=0.0, le=1.0)
    """Weight of the format reward; the answer reward gets 1 - format_weight."""


class SplitConfig(PluginSection):
    _section: ClassVar[str] = "split"

    type: str = "fixed"
    """How I and J are set each round (registry key): "fixed" (local_i and external_j), "fill" (J fills the
    update up to a target of informative groups), "supply" (J follows the informative groups peers supply)."""
    options: SerializeAsAny[PluginOptions] = Field(default_factory=dict, validate_default=True)
    """Options of the split named by `type` (`swarm config --explain` lists them)."""

    @classmethod
    def _options_model(cls, key: str) -> type[PluginOptions]:
        from node.sampler import split_options  # read at validation: node.config is imported by the plug-ins

        return split_options(key)


class PeerLedgerConfig(Strict):
    decay: float = Field(0.95, gt=0.0, le=1.0)
    """Factor applied once a round to every peer's counts (1.0: never forget)."""
    prior_useful: float = Field(1.0, gt=0.0)
    """a of the Beta(a, b) prior of a peer's useful-group rate: pseudo-counts of useful groups."""
    prior_useless: float = Field(1.0, gt=0.0)
    """b of the Beta(a, b) prior: pseudo-counts of groups that were rejected or had no signal."""


class PassRatesConfig(Strict):
    decay: float = Field(0.9, gt=0.0, le=1.0)
    """Factor applied once a round to this node's per-kind counts (recent rounds weigh more)."""
    prior: float = Field(0.5, ge=0.0, le=1.0)
    """Pass rate assumed for a kind of question this node has not tried yet."""
    prior_weight: float = Field(1.0, gt=0.0)
    """Pseudo-groups of the prior: how many own groups it takes to outweigh it."""


class SamplerConfig(PluginSection):
    _section: ClassVar[str] = "sampler strategy"

    type: str = "uniform"
    """Selection strategy for external groups (registry key): uniform, variance, hardest, fresh_uniform,
    peer_useful, need (receiver-relative), or one registered by a plug-in."""
    local_i: int = Field(8, ge=0, le=1024)
    """I: local rollout groups per update (also the groups this node generates each round)."""
    external_j: int = Field(8, ge=0, le=1024)
    """J: external rollout groups per update, sampled from peers; 0 means local-only training. Under an
    adaptive `split` this is the first round's J."""
    completions_l: int = Field(16, ge=1, le=256)
    """L: completions generated per question."""
    drop_zero_advantage: bool = True
    """Drop groups whose rewards are all equal before sampling (they carry no signal)."""
    accept_free_text: bool = False
    """Train on external free-text tasks that cannot be rebuilt and re-scored."""
    rescore_claimed_signal_only: bool = False
    """Intake rebuilds and re-scores only the peers' groups whose sender scored its completions unequally;
    a group its sender scored all alike is left unscored (metrics: `claimed_no_signal_skipped`). The claim
    decides only what is checked, never what is learned: a group claiming signal is re-scored like any other,
    so a lie costs the liar its own groups. In a sparse swarm most groups carry no signal, and this skips
    their rebuild and verification. Leave it off where nodes' verifiers differ (a group one scores all alike
    may have signal under another). Needs drop_zero_advantage (without the filter every group is a candidate)."""
    max_external_pool: int = Field(1024, ge=1)
    """Most external groups held between rounds; older ones are dropped first."""
    max_age_windows: int | None = Field(None, ge=0, le=1_000_000)
    """Drop pooled external groups generated more than this many time windows ago (None: no bound; the
    pool size still bounds them). 0 keeps only groups of the current window."""
    replay_groups: int = Field(0, ge=0, le=4096)
    """Replay: keep this node's last N informative local groups and offer them, beside peers' groups, as
    candidates for the J slots (0: off). A replayed group stays when chosen and is learned from like an
    external one (`algorithm.external_advantage`). The isolation control of the SAPO table: with no
    transport, J is filled from the node's own history instead of its peers' (`node.sampler.replay`)."""
    seed: int = 0
    """Seed of the external-sampling generator (its own stream, apart from task draws)."""
    options: SerializeAsAny[PluginOptions] = Field(default_factory=dict, validate_default=True)
    """Options of the strategy named by `type` (`swarm config --explain` lists them)."""
    split: SplitConfig = Field(default_factory=SplitConfig)
    """How I and J move between rounds (default: fixed at local_i and external_j)."""
    peer_ledger: PeerLedgerConfig = Field(default_factory=PeerLedgerConfig)
    """Per-peer history of useful groups (read by the peer_useful strategy)."""
    pass_rates: PassRatesConfig = Field(default_factory=PassRatesConfig)
    """This node's recent pass rate per kind of question (read by the need strategy)."""

    @classmethod
    def _options_model(cls, key: str) -> type[PluginOptions]:
        from node.sampler import strategy_options  # read at validation: node.config is imported by the plug-ins

        return strategy_options(key)

    @model_validator(mode="after")
    def _some_groups(self) -> "SamplerConfig":
        if self.local_i + self.external_j == 0 and self.split.type == "fixed":
            raise ValueError("sampler.local_i + sampler.external_j is 0: set local_i >= 1 or external_j >= 1")
        if self.rescore_claimed_signal_only and not self.drop_zero_advantage:
            raise ValueError("sampler.rescore_claimed_signal_only needs sampler.drop_zero_advantage: without the filter "
                             "a group scored all alike is a candidate too, so every group must be re-scored")
        if self.replay_groups and self.external_j == 0 and self.split.type == "fixed":
            raise ValueError(f"sampler.replay_groups is {self.replay_groups} but external_j is 0 under a fixed split: "
                             "replayed groups fill the J slots, so set external_j >= 1 (or replay_groups: 0)")
        return self


class AlgorithmConfig(PluginSection):
    _section: ClassVar[str] = "algorithm"

    type: str = "grpo"
    """Local learning algorithm (registry key: grpo, dr_grpo, reinforce; or an entry point name in
    `sapo_swarm.algorithms`)."""
    lr: float = Field(3e-4, gt=0.0, le=1.0)
    """Adam learning rate."""
    epsilon_low: float = Field(0.2, ge=0.0, le=1.0)
    """Lower clip of the importance ratio (1 - epsilon_low)."""
    epsilon_high: float = Field(0.28, ge=0.0, le=10.0)
    """Upper clip of the importance ratio (1 + epsilon_high)."""
    beta: float = Field(0.0, ge=0.0)
    """KL penalty weight against the starting policy (k3 estimator); 0 disables it (the paper's setting).
    `configs/join.yaml` sets 0.04: without it 2 of 18 soak nodes lost a fifth or more of their reward after
    1,500+ rounds, with it none of 9 did (benchmarks/results/soak). Costs a frozen copy of the weights (none with
    LoRA: adapters off) and a forward pass over every row."""
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
    merge_duplicates: bool = True
    """One pass per distinct row, weighted by its count (`Algorithm.rows_are_independent`): same step, less CPU."""
    options: SerializeAsAny[PluginOptions] = Field(default_factory=dict, validate_default=True)
    """Options of the algorithm named by `type` (`swarm config --explain` lists them)."""

    @classmethod
    def _options_model(cls, key: str) -> type[PluginOptions]:
        from node.algorithms import algorithm_options  # read at validation: the algorithms import node.config

        return algorithm_options(key)


class RoundConfig(Strict):
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
    collapse_drop: float = Field(0.2, gt=0.0, lt=1.0)
    """A collapse: the moving average stays below (1 - collapse_drop) x its peak (and at least 0.05 under it) for
    collapse_window // 2 rounds. 0.2 is the tolerance the soak holds nodes to (`benchmarks.soak`: none may end
    below 80% of its peak); at 0.3 a node of the first full soak fell to 0.64 of its peak, the guard not yet fired."""
    collapse_lr_factor: float = Field(0.5, gt=0.0, le=1.0)
    """Learning-rate multiplier applied at each rollback."""


class NodeConfig(Strict):
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
    defences: DefencesConfig = Field(default_factory=DefencesConfig)
    """Checks on peers' completions after re-scoring, before selection (`node.defences`)."""


ModelConfig.model_rebuild()

__all__ = [
    "AlgorithmConfig", "DefencesConfig", "JudgeDefenceConfig", "LoraConfig", "ModelConfig", "NodeConfig",
    "PassRatesConfig", "PeerLedgerConfig", "PeerTrustConfig", "PlausibilityDefenceConfig", "RewardsConfig",
    "RoundConfig", "SamplerConfig", "Scalar", "ShapeDefenceConfig", "SplitConfig", "TaskFamilyConfig", "TasksConfig",
]
