"""A third-party algorithm installed as a package (entry point) is built by name and trains."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from node.algorithms import ALGORITHMS, ENTRY_POINT_GROUP, build_algorithm
from node.config import AlgorithmConfig
from tests.unit.test_algorithms import GROUPS, CharPolicy

PLUGIN = '''
"""A plug-in: sign-of-advantage policy gradient, written only against the public base class."""
import torch
from node.algorithms import Algorithm, group_mean_std, masked_mean
from node.registry import PluginOptions


class SignOptions(PluginOptions):
    scale: float = 1.0
    """Size of every advantage."""


class SignAlgorithm(Algorithm):
    Options = SignOptions

    def advantages(self, rewards, group_index):
        mean, _ = group_mean_std(rewards, group_index)
        return self.options.scale * torch.sign(rewards - mean)

    def sequence_loss(self, logp, old_logp, ref_logp, advantages, mask):
        return -advantages * masked_mean(logp, mask, dim=1), {"plugin": torch.tensor(1.0)}
'''


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "sign_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "sign_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sign-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""
        [{ENTRY_POINT_GROUP}]
        sign_pg = sign_plugin:SignAlgorithm
    """))
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates importlib's finder caches
    return "sign_pg"


def test_entry_point_algorithm_is_built_and_updates(installed_plugin: str) -> None:
    assert installed_plugin not in ALGORITHMS
    policy = CharPolicy()
    before = torch.cat([p.detach().flatten() for p in policy.parameters()])
    algorithm = build_algorithm(AlgorithmConfig(type=installed_plugin, lr=1e-2), policy)
    assert type(algorithm).__name__ == "SignAlgorithm"
    stats = algorithm.update(GROUPS)
    assert stats.extra["plugin"] == 1.0 and stats.num_sequences == 8
    assert not torch.equal(before, torch.cat([p.detach().flatten() for p in policy.parameters()]))


def test_unknown_name_lists_entry_points_too(installed_plugin: str) -> None:
    with pytest.raises(ValueError, match="known: dr_grpo, grpo, reinforce, sign_pg"):
        AlgorithmConfig(type="nope")  # refused at load, not at the first update
    with pytest.raises(KeyError, match="known: dr_grpo, grpo, reinforce, sign_pg"):
        build_algorithm(AlgorithmConfig.model_construct(type="nope"), CharPolicy())


def test_a_plugin_declares_its_own_options(installed_plugin: str) -> None:
    config = AlgorithmConfig(type=installed_plugin, options={"scale": 0.5})
    assert type(config.options).__name__ == "SignOptions"
    assert build_algorithm(config, CharPolicy()).options.scale == 0.5
    with pytest.raises(ValueError, match=r"unknown option 'scael' of algorithm 'sign_pg' \(valid: scale\)"):
        AlgorithmConfig(type=installed_plugin, options={"scael": 0.5})
