"""Plug-in options are typed per plug-in and checked at load; every plug-in kind uses one registry style;
`swarm config --explain` shows the options; configs/ keep loading; loading a config needs no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.algorithms import ALGORITHMS, build_algorithm
from node.config import AlgorithmConfig, ModelConfig, NodeConfig
from node.models import MODEL_PRESETS, ensure_model
from node.registry import UnknownPluginError
from node.sampler import SPLITS, STRATEGIES, FillSplit, build_split, build_strategy
from swarm.cli import app
from swarm.config import ConfigError, RunConfig, load_config

CONFIGS = sorted(Path("configs").glob("*.yaml"))


def load_yaml(tmp_path: Path, text: str) -> RunConfig:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


def test_a_typo_in_a_strategy_option_is_refused_at_load_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, "node:\n  sampler:\n    type: fresh_uniform\n    options: {recnt: 8}\n")
    assert "node.sampler.options: unknown option 'recnt' of sampler strategy 'fresh_uniform' (valid: recent)" in str(err.value)
    with pytest.raises(ConfigError, match="unknown option 'peer_decy' of sampler strategy 'peer_useful' "):
        load_yaml(tmp_path, "node:\n  sampler:\n    type: peer_useful\n    options: {peer_decy: 0.9}\n")


def test_unknown_types_and_algorithm_options_are_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="node.sampler.type: unknown sampler strategy 'unifrom'; known: fresh_uniform, "
                                          "hardest, need, peer_useful, uniform, variance"):
        load_yaml(tmp_path, "node: {sampler: {type: unifrom}}\n")
    with pytest.raises(ConfigError, match="node.algorithm.type: unknown algorithm 'gpro'; known: dr_grpo, grpo, reinforce"):
        load_yaml(tmp_path, "node: {algorithm: {type: gpro}}\n")
    with pytest.raises(ConfigError, match=r"node.algorithm.options: unknown option 'std_ep' of algorithm 'grpo' \(valid: std_eps\)"):
        load_yaml(tmp_path, "node: {algorithm: {options: {std_ep: 0.1}}}\n")
    with pytest.raises(ConfigError, match="option 'max_completion_tokens' of algorithm 'dr_grpo': Input should be greater"):
        load_yaml(tmp_path, "node: {algorithm: {type: dr_grpo, options: {max_completion_tokens: 0}}}\n")


def test_options_are_the_entrys_model_and_round_trip() -> None:
    config = NodeConfig.model_validate({"sampler": {"type": "need", "options": {"sharpness": 2.0}},
                                        "algorithm": {"type": "dr_grpo", "options": {"max_completion_tokens": 6}}})
    assert type(config.sampler.options) is STRATEGIES["need"].options and config.sampler.options.sharpness == 2.0
    assert config.algorithm.options == ALGORITHMS["dr_grpo"].options(max_completion_tokens=6)
    assert NodeConfig.model_validate(config.model_dump(mode="json")) == config


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_config(path)
    assert RunConfig.model_validate(config.model_dump(mode="json")) == config


def test_the_fill_config_is_the_tables_winning_arm() -> None:
    node = load_config("configs/sapo-fill.yaml").node
    split = build_split(node.sampler.split.type, node.sampler.split.options)
    assert isinstance(split, FillSplit) and split.options.target == 24
    assert (node.sampler.local_i, node.sampler.external_j, node.sampler.completions_l) == (16, 0, 16)
    assert (node.algorithm.iterations, node.algorithm.external_advantage) == (2, "positive")
    assert node.tasks.families[0].config == {"min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 2}


@pytest.mark.parametrize("path, arm", [("configs/sapo-positive.yaml", "SHARING"), ("configs/sapo-half.yaml", "SHARING_4")])
def test_the_sapo_configs_are_the_sharing_arms_the_tables_ran(path: str, arm: str) -> None:
    """configs/sapo-positive.yaml runs the node the controls table ran as S (benchmarks.sapo.controls.SHARING),
    configs/sapo-half.yaml block 5's S (SHARING_4): the same model build, tasks, sampler, algorithm, rewards and
    defences; only the round's plumbing differs."""
    from benchmarks.sapo import controls, cuts
    from benchmarks.sapo.sim import node_config

    sharing = getattr(controls, arm)
    block = controls.controls_blocks(require_calibration=False)[0] if arm == "SHARING" else cuts.cuts_5_blocks()[0]
    spec = next(s for c, s in zip(block.configs, block.specs(block.seeds[0], 0)) if c is sharing)
    table = node_config(spec, 0).model_dump(mode="json")
    shipped = load_config(path).node.model_dump(mode="json")
    for section in ("model", "tasks", "algorithm", "rewards", "defences"):
        assert shipped[section] == table[section], section
    assert {**shipped["sampler"], "seed": 0} == {**table["sampler"], "seed": 0}  # the table seeds each node's sampler
    assert shipped["round"]["rounds"] == table["round"]["rounds"] == 150


def test_every_registry_refuses_an_unknown_key_the_same_way() -> None:
    attempts = [(lambda: build_strategy("nope"), STRATEGIES), (lambda: build_split("nope"), SPLITS), (lambda: build_algorithm(AlgorithmConfig.model_construct(type="nope"), None), ALGORITHMS),
        (lambda: ensure_model(ModelConfig(name="nope")), MODEL_PRESETS)]
    for attempt, registry in attempts:
        with pytest.raises(UnknownPluginError) as err:
            attempt()
        assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
        assert "'nope'; known: " + ", ".join(sorted(registry)) in str(err.value)


def test_loading_a_config_imports_no_torch() -> None:
    code = ("import sys; from swarm.config import load_config; c = load_config('configs/sapo-fill.yaml'); "
            "from swarm.explain import explain; explain(c); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_swarm_config_explain_shows_each_option_and_refuses_typos() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["config", "--config", "configs/sapo-fill.yaml", "--explain"])
    assert result.exit_code == 0, result.output
    assert "node.sampler.split.options.target: 24" in result.output
    assert "Informative groups per update the fill aims at" in result.output
    assert "need: success_reward, sharpness, min_weight" in result.output
    typo = runner.invoke(app, ["config", "--set", "node.sampler.split.type=fill", "--set",
                               "node.sampler.split.options.targte=24"])
    assert typo.exit_code == 2 and "targte" in typo.output and "valid: target, decay" in " ".join(typo.output.split())
