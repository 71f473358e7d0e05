"""reasoning-gym generators as rebuildable task sources.

reasoning-gym datasets are procedural: item i is computed from `random.Random(seed + i)` on demand, so
opening a dataset costs nothing however large its `size`, and any node rebuilds item i exactly. A
worked instance (chain_sum, 2 one-digit terms, seed 0, index 3):

    >>> items = open_reasoning_gym("chain_sum", {"min_terms": 2, "max_terms": 2, "max_digits": 1}, 0)
    >>> entry = items[3]
    >>> entry["question"]
    'State the final answer to the following arithmetic problem: 5 - 9 ='
    >>> entry["answer"], items.score_answer("-4", entry), items.score_answer("4", entry)
    ('-4', 1.0, 0.0)

Which generators a receiver accepts: every registered reasoning-gym dataset, except those whose items
cannot be addressed by index alone (`UNSUPPORTED`), with a config of at most 16 flat scalars, numbers
of magnitude <= 10,000 and strings <= 64 characters (`base.config_key`). The bound on numbers caps the
work a peer can make a receiver do (a chain_sum with max_digits=10**6 would stall it). A config that
reasoning-gym itself rejects (unknown field, failed validation) is TaskError("bad_config").

Measured on reasoning-gym 0.1.25 (opening with size 10 and 10**6, then items 5 and size-1): all but the
datasets below open in < 1 ms regardless of size; a few load files once (arc_agi ~0.3 s, figlet_font,
group_anagrams ~0.15 s), which the LRU cache amortises; some items are slow to generate (knight_swap
~0.5 s, futoshiki and zebra_puzzles ~0.15 s).

References: reasoning-gym `dataset.py` (ProceduralDataset) and `factory.py` (create_dataset).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import reasoning_gym
from reasoning_gym.factory import DATASETS

from node.tasks.base import ItemSource, TaskError
from protocol.printable import peer_text

logger = logging.getLogger(__name__)

VIRTUAL_SIZE = 2**31 - 1
"""`size` given to reasoning-gym: items do not depend on it, so the swarm's `dataset_size` bounds indices."""

UNSUPPORTED: dict[str, str] = {
    "acre": "items depend on the dataset size and opening costs O(size)",
    "word_ladder": "items depend on earlier items and size is capped at 20,000",
    "composite": "needs a nested config",
}
"""reasoning-gym datasets that cannot be rebuilt from (config, seed, index) alone."""

EAGER_SIZE: dict[str, int] = {"list_functions": 2**16, "gsm_symbolic": 2**16}
"""Datasets that precompute O(size) at opening (`Random.choices(k=size)`): opened with this size, which
also bounds their indices. Item i is the same for any size > i, because `choices` draws a prefix."""


def is_reasoning_gym(generator: str) -> bool:
    return generator in DATASETS


def open_reasoning_gym(generator: str, config: Mapping[str, Any], seed: int) -> ItemSource:
    """Open one reasoning-gym dataset. Raises TaskError (unknown/unsupported generator, bad config)."""
    if generator not in DATASETS:
        raise TaskError("unknown_generator", generator)
    if generator in UNSUPPORTED:
        raise TaskError("unsupported_generator", f"{generator}: {UNSUPPORTED[generator]}")
    size = EAGER_SIZE.get(generator, VIRTUAL_SIZE)
    try:
        return reasoning_gym.create_dataset(generator, **config, seed=seed, size=size)
    except (TypeError, ValueError, AssertionError, KeyError) as exc:
        # reasoning-gym validates with asserts and dataclass __init__; both mean "this config is wrong"
        logger.debug("reasoning-gym refused %s %s", peer_text(generator), peer_text(dict(config), 200), exc_info=True)
        raise TaskError("bad_config", f"{generator}: {exc}") from exc
