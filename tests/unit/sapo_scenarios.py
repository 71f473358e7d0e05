"""Hand-made round streams for comparing the node's splits with the SAPO simulator's controllers.

Each round brings 32 local groups (each informative with probability `p_local`) and a random number of
peers' groups arriving in the pool (informative with probability `p_external`), all from one seed. A
run drives a split over the stream the way `node.round.Node.step` does: the pool takes the informative
arrivals, `select_groups` picks I local and J external, the pool loses what was chosen, the split sees
what was kept. Only the split and the choice differ between runs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from node.types import ScoredGroup, Task
from protocol.messages import TaskRef

SCENARIOS = {
    # label: (split, target, local_i, external_j, strategy, stream seed, p_local, p_external)
    "fill to 24, I=16, uniform": ("fill", 24, 16, 0, "uniform", 1, 0.2, 0.6),
    "fill to 16, I=16, uniform": ("fill", 16, 16, 0, "uniform", 2, 0.3, 0.5),
    "fill to 24, I=16, fresh": ("fill", 24, 16, 0, "fresh_uniform", 3, 0.2, 0.6),
    "fill to 24, I=16, variance": ("fill", 24, 16, 0, "variance", 4, 0.2, 0.6),
    "fill to 24, I=8, J0=8": ("fill", 24, 8, 8, "uniform", 5, 0.25, 0.6),
    "supply, 8/8": ("supply", 16, 8, 8, "uniform", 6, 0.3, 0.5),
}
ROUNDS = 14
SAMPLER_SEED = 1234


def group(index: int, rng: random.Random, p_signal: float) -> ScoredGroup:
    """A 4-completion group whose rewards vary with probability `p_signal` (then 1 to 3 successes)."""
    rewards = [0.0] * 4
    if rng.random() < p_signal:
        for k in rng.sample(range(4), rng.randint(1, 3)):
            rewards[k] = 1.0
    source = "local" if index < 10_000 else f"peer{index % 3}"
    return ScoredGroup(Task(TaskRef("toy", index=index), f"q{index}", "a"), ("x",) * 4, tuple(rewards), source)


def stream(seed: int, p_local: float, p_external: float) -> Iterator[tuple[list[ScoredGroup], list[ScoredGroup]]]:
    """(local groups, arriving external groups) of each round."""
    rng = random.Random(seed)
    for r in range(ROUNDS):
        local = [group(100 * r + i, rng, p_local) for i in range(32)]
        arrivals = [group(10_000 + 100 * r + k, rng, p_external) for k in range(rng.randint(0, 40))]
        yield local, arrivals


