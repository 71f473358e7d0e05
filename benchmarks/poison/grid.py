"""The arms of the poisoning benchmark, grouped in blocks run in priority order.

An `Arm` is one swarm condition (attack, poisoners of 8, the honest nodes' defences, advantage rule); a
`Block` runs its arms on its seeds. `jobs_of` orders every run so that a grid cut short leaves complete
paired comparisons: tier by tier (the controls and the 2-of-8 arms first), and within a tier all blocks' seed 0
first, then seed 1, and so on.

    >>> [a.label for a in full_blocks()[0].arms]
    ['control positive, undefended', 'control signed, undefended']
    >>> [a.label for a in full_blocks()[1].arms][-2:]
    ['e_partial 2/8 positive, undefended', 'e_partial 2/8 signed, undefended']
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from benchmarks.poison.attacks import ATTACKS, PLANTING
from benchmarks.poison.swarm import UNDEFENDED, PoisonSpec, defences_of

DEFENCE_SETTINGS = {
    "undefended": UNDEFENDED,
    "shape+trust": {"plausibility": {"enabled": False}},
    "all": {"plausibility": {"enabled": True, "statistic": "mean", "rewarded_only": True, "margin_nats": 0.5}},
    "shape only": {"plausibility": {"enabled": False}, "peer_trust": {"enabled": False}},
    "verbose": {"shape": {"text_checks": False},
                "plausibility": {"enabled": True, "statistic": "mean", "rewarded_only": True, "quantile": 0.005,
                                 "margin_nats": 0.5, "min_calibration": 32}},
}
"""Honest nodes' defences per arm, as explicit overrides (a later change of the defaults changes no run's key)."""


RECIPES: dict[str, dict] = {
    "testnet": {},
    "smollm2": {"local_i": 4, "external_j": 4, "completions": 8, "max_new_tokens": 32, "lr": 1e-5, "poisoner_groups": 4},
}
"""Spec settings per recipe. smollm2: a pretrained 135M LM at rl-swarm's learning rate (1e-5), 4 groups of 8
completions of up to 32 tokens (it answers in sentences), the poisoner sharing 4 groups like an honest node."""


@dataclass(frozen=True)
class Arm:
    attack: str
    poisoners: int
    defences: str
    advantage: str = "positive"
    models: tuple[str, ...] = ("tiny-0.5m",)
    groups: int = 8
    """Groups each poisoner shares per round (8, like an honest node; 32 in the strengthened arms)."""
    n_nodes: int = 8
    recipe: str = "testnet"
    """Settings beyond the testnet's (`RECIPES`)."""

    @property
    def label(self) -> str:
        who = "control" if self.attack == "none" else f"{self.attack} {self.poisoners}/{self.n_nodes}"
        mix = "" if self.models == ("tiny-0.5m",) else " (" + "+".join(m.removeprefix("tiny-") for m in self.models) + ")"
        more = "" if self.groups == 8 else f" x{self.groups}"
        recipe = "" if self.recipe == "testnet" else f" [{self.recipe}]"
        return f"{who}{more} {self.advantage}{mix}{recipe}, {self.defences}"

    def spec(self, seed: int, rounds: int) -> PoisonSpec:
        return PoisonSpec(attack=self.attack, poisoners=self.poisoners, defences=defences_of(DEFENCE_SETTINGS[self.defences]),
                          external_advantage=self.advantage, rounds=rounds, seed=seed, models=self.models,
                          n_nodes=self.n_nodes, **{"poisoner_groups": self.groups, **RECIPES[self.recipe]})

    def control(self) -> "Arm":
        """The no-attack arm this one is compared with: same rule, models, size and recipe, undefended."""
        return Arm("none", 0, "undefended", self.advantage, self.models, n_nodes=self.n_nodes, recipe=self.recipe)


@dataclass(frozen=True)
class Block:
    name: str
    arms: tuple[Arm, ...]
    seeds: tuple[int, ...]
    rounds: int = 100
    note: str = ""
    tier: int = 0
    """Blocks of tier 0 run (seed-major) before any block of tier 1, and so on."""


def full_blocks(rounds: int = 100, seeds: int = 5) -> list[Block]:
    """Pre-registered blocks, in run order (see the package docstring for the metric of each). Tier 0: the
    controls and 2 of 8 for every attack (and the strengthened planting attacks), undefended and with the default
    defences (shape and peer trust), seed-major so that every finished seed is a complete paired set, and one
    SmolLM2 run, then (added on 2026-12-03, before running) the same attack against the settings for a model that
    answers in sentences ("verbose") and 2 honest SmolLM2 nodes under them and under the default defences;
    tier 1: the plausibility check on, and the testnet's mixed model sizes (2 seeds); tier 2: 1 and 4
    poisoners of 8, undefended."""
    every = tuple(range(seeds))
    mixed = ("tiny-0.5m", "tiny-1.5m")

    def attacked(defences: str) -> tuple[Arm, ...]:
        return (*(Arm(a, 2, defences) for a in ATTACKS), Arm("e_partial", 2, defences, "signed"))

    def strong(defences: str) -> tuple[Arm, ...]:
        return tuple(Arm(a, 2, defences, groups=32) for a in PLANTING)

    def honest(defences: str) -> tuple[Arm, ...]:
        return Arm("none", 0, defences, "positive"), Arm("none", 0, defences, "signed")

    def smol(attack: str, poisoners: int, defences: str) -> Arm:
        return Arm(attack, poisoners, defences, models=("smollm2-135m",), n_nodes=2, recipe="smollm2")

    return [
        Block("controls", honest("undefended"), every, rounds, note="honest swarm of 8, no defence"),
        Block("2 of 8", attacked("undefended"), every, rounds, note="2 poisoners among 8 nodes, undefended"),
        Block("2 of 8, x32", strong("undefended"), every, rounds,
              note="the planting attacks strengthened: each poisoner shares 32 groups a round (61% of what an honest node receives)"),
        Block("controls, defended", honest("shape+trust"), every, rounds,
              note="honest swarm of 8 with the default defences: what they cost in reward, false rejections, CPU"),
        Block("2 of 8, defended", attacked("shape+trust"), every, rounds,
              note="2 poisoners among 8 nodes, honest nodes with the default defences"),
        Block("2 of 8, x32, defended", strong("shape+trust"), every, rounds,
              note="the strengthened planting attacks against the default defences"),
        Block("plausibility", (Arm("none", 0, "all"), Arm("e_partial", 2, "all"), Arm("e_partial", 2, "all", "signed")),
              every[:2], rounds, tier=1, note="the log-prob check on as well: its false rejections, cost, and (e)"),
        Block("mixed models", (Arm("none", 0, "undefended", "positive", mixed), Arm("none", 0, "shape+trust", "positive", mixed),
                               Arm("none", 0, "all", "positive", mixed)), every[:2], rounds, tier=1,
              note="the testnet's alternation of tiny-0.5m and tiny-1.5m: false rejections across model sizes"),
        Block("2 of 8, x32, 200 rounds", (Arm("a_suffix", 2, "undefended", groups=32), Arm("b_prefix", 2, "undefended", groups=32),
                                          Arm("a_suffix", 2, "shape+trust", groups=32)), every[:1], 2 * rounds,
              note="more rounds: the strengthened planting still rose at round 100"),
        Block("smollm2", (smol("b_prefix", 1, "undefended"),), every[:1], 24, tier=0,
              note="a real pretrained LM (SmolLM2-135M-Instruct): 1 honest node, its only peer poisoning; the trigger "
              "rate of its first rounds is the baseline"),
        Block("smollm2, defended", (smol("b_prefix", 1, "verbose"), smol("none", 0, "verbose"), smol("none", 0, "shape+trust")),
              every[:1], 24, tier=0, note="SmolLM2 answers in sentences: the shape check's text checks off and the log-prob "
              "check on (mean token log-prob of paid completions) against the same attack, and 2 honest SmolLM2 nodes "
              "with that setting and with the default one (false rejections of honest peers)"),
        Block("1 of 8", tuple(Arm(a, 1, "undefended") for a in ATTACKS), every, rounds, tier=2),
        Block("4 of 8", tuple(Arm(a, 4, "undefended") for a in ATTACKS), every, rounds, tier=2),
    ]


def quick_blocks(rounds: int = 12) -> list[Block]:
    """CI: 8 nodes, 12 rounds, one seed: the control and the trigger-first attack, undefended and defended."""
    return [Block("quick", (Arm("none", 0, "undefended"), Arm("b_prefix", 2, "undefended"),
                            Arm("b_prefix", 2, "shape+trust")), (0,), rounds)]


def jobs_of(blocks: list[Block]) -> list[tuple[str, Arm, PoisonSpec]]:
    """(block, arm, spec) by tier, then seed-major over the tier's blocks, so early seeds of every block finish first."""
    jobs = []
    for tier in sorted({b.tier for b in blocks}):
        chosen = [b for b in blocks if b.tier == tier]
        longest = max(len(b.seeds) for b in chosen)
        jobs += [(b.name, arm, arm.spec(b.seeds[i], b.rounds)) for i in range(longest) for b in chosen
                 if i < len(b.seeds) for arm in b.arms]
    return jobs


LATER_FIELDS = {"local_i": 8, "external_j": 8, "lr": 3e-4}
"""Spec fields added after the first runs were logged: left out of the key at these defaults, so those runs keep theirs."""


def spec_key(spec: PoisonSpec) -> str:
    """The run log's key of a spec: every field, so a changed setting never reuses a run."""
    fields = asdict(spec)
    for name, default in LATER_FIELDS.items():
        if fields[name] == default:
            del fields[name]
    return json.dumps(fields, sort_keys=True)
