"""The node's splits ("fill", "supply") choose exactly what the SAPO simulator's controllers chose.

The reference: selections recorded from the sampler and pool the table ran with (commit 3ff2578's
`node/sampler/` and round loop) driven by the controllers `benchmarks/sapo/sim.py` had then, before the
splits moved into the node and the simulator's copies were deleted (`data/sapo_sim_selections.json`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from node.config import SamplerConfig
from node.sampler import ExternalPool, FillSplit, build_split, select_groups
from tests.unit.sapo_scenarios import ROUNDS, SAMPLER_SEED, SCENARIOS, stream

RECORDED = json.loads((Path(__file__).parent / "data" / "sapo_sim_selections.json").read_text())


def node_config(label: str) -> SamplerConfig:
    split, target, local_i, external_j, strategy, *_ = SCENARIOS[label]
    return SamplerConfig.model_validate({"type": strategy, "local_i": local_i, "external_j": external_j,
                                         "split": {"type": split, "options": {"target": target}}})


def run_node_split(label: str) -> list[list]:
    """The scenario as `Node.step` runs it: split -> pool -> select_groups -> consume -> observe."""
    config, (*_, seed, p_local, p_external) = node_config(label), SCENARIOS[label]
    split, pool, rng = build_split(config.split.type, config.split.options), ExternalPool(config.max_external_pool), random.Random(SAMPLER_SEED)
    rows = []
    for r, (local, arrivals) in enumerate(stream(seed, p_local, p_external)):
        i, j = split.current(config.local_i, config.external_j)
        pool.add(g for g in arrivals if g.has_signal)
        sel = select_groups(local, list(pool), local_i=i, external_j=j, rng=rng, strategy=config.type)
        pool.consume(sel.external)
        split.observe(r, len(sel.local), sel.external_candidates, config.external_j)
        rows.append([i, j, [g.task.ref.index for g in sel.local], [g.task.ref.index for g in sel.external]])
    return rows


@pytest.mark.parametrize("label", sorted(SCENARIOS))
def test_node_split_selects_what_the_simulator_selected(label: str) -> None:
    rows = run_node_split(label)
    assert len(rows) == ROUNDS
    assert rows == RECORDED[label]


def test_a_split_resumes_from_its_state() -> None:
    config = node_config("fill to 24, I=16, uniform")
    first, resumed = (build_split(config.split.type, config.split.options) for _ in range(2))
    for r, kept in enumerate([3, 5, 1]):
        first.observe(r, kept, 10, 0)
    resumed.load_state_dict(first.state_dict())
    for r, kept in enumerate([4, 0, 7], start=3):
        first.observe(r, kept, 10, 0)
        resumed.observe(r, kept, 10, 0)
        assert first.current(16, 0) == resumed.current(16, 0)
    assert isinstance(first, FillSplit)


def test_the_fixed_split_follows_the_configured_values_every_round() -> None:
    fixed = build_split("fixed")
    assert fixed.current(8, 8) == (8, 8)
    fixed.observe(0, 3, 50, 8)
    assert fixed.current(4, 12) == (4, 12)  # read anew: a caller may change the config between rounds


def test_split_options_are_typed_at_load() -> None:
    with pytest.raises(ValueError, match=r"unknown option 'targte' of split 'fill' \(valid: target, decay\)"):
        SamplerConfig.model_validate({"split": {"type": "fill", "options": {"targte": 24}}})
    with pytest.raises(ValueError, match="unknown sampler split 'fil'; known: fill, fixed, supply"):
        SamplerConfig.model_validate({"split": {"type": "fil"}})
    with pytest.raises(ValueError, match="i_min 10 \\+ j_min 8 > target 16"):
        SamplerConfig.model_validate({"split": {"type": "supply", "options": {"i_min": 10, "j_min": 8}}})
    assert SamplerConfig.model_validate({"local_i": 16, "external_j": 0, "split": {"type": "fill"}}).split.type == "fill"
