"""LoRA (`model.lora`, through peft) on a tiny model: only adapters train, the sampler runs the merged weights."""

from __future__ import annotations

import pytest
import torch

from node.algorithms import build_algorithm
from node.config import AlgorithmConfig, LoraConfig, NodeConfig
from node.models import lora
from node.policy import Policy
from node.types import ScoredGroup, Task
from protocol.messages import TaskRef

pytest.importorskip("peft")

QUESTIONS = [f"State the final answer to the following arithmetic problem: {a} + {b} =" for a, b in ((4, 1), (2, 7))]
GROUPS = [ScoredGroup(Task(TaskRef("chain_sum", index=i), q, "5"), ("5", "4", "12", "5"), (1.0, 0.0, 0.0, 1.0))
          for i, q in enumerate(QUESTIONS)]


@pytest.fixture
def lora_policy(tiny_model_config) -> Policy:
    return Policy.load(tiny_model_config.model_copy(update={"lora": LoraConfig(r=4, alpha=8.0)}))


def state_bytes(algorithm) -> int:
    """Bytes of gradients and Adam moments: what a full update adds on top of the weights."""
    grads = sum(p.grad.numel() * p.grad.element_size() for p in algorithm.optimizer.param_groups[0]["params"]
                if p.grad is not None)
    moments = sum(t.numel() * t.element_size() for s in algorithm.optimizer.state.values() for t in s.values()
                  if isinstance(t, torch.Tensor) and t.dim() > 0)
    return grads + moments


def test_lora_config_is_typed_and_refuses_unknown_keys() -> None:
    cfg = NodeConfig.model_validate({"model": {"lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj"]}}})
    assert cfg.model.lora == LoraConfig(r=8, alpha=16.0, target_modules=["q_proj"])
    with pytest.raises(ValueError, match="rank"):
        NodeConfig.model_validate({"model": {"lora": {"rank": 8}}})
    assert NodeConfig().model.lora is None and NodeConfig().model.generation == "eager"


def test_lora_starts_as_the_base_model_and_trains_only_adapters(tiny_model_config, lora_policy) -> None:
    base = Policy.load(tiny_model_config)
    assert lora_policy.generate(QUESTIONS, 4, seed=1) == base.generate(QUESTIONS, 4, seed=1)  # B = 0 at start
    trained = list(lora_policy.parameters())
    assert trained and all("lora_" in n for n, p in lora_policy.model.named_parameters() if p.requires_grad)
    frozen = {n: p.detach().clone() for n, p in lora_policy.model.named_parameters() if not p.requires_grad}
    full = build_algorithm(AlgorithmConfig(lr=1e-2), base)
    adapters = build_algorithm(AlgorithmConfig(lr=1e-2), lora_policy)
    full.update(GROUPS)
    adapters.update(GROUPS)
    assert all(torch.equal(p, frozen[n]) for n, p in lora_policy.model.named_parameters() if not p.requires_grad)
    assert state_bytes(adapters) < 0.2 * state_bytes(full), (state_bytes(adapters), state_bytes(full))


def test_sampler_is_refreshed_from_the_merged_weights(tiny_model_config, lora_policy) -> None:
    algorithm = build_algorithm(AlgorithmConfig(lr=5e-2), lora_policy)
    for _ in range(3):
        algorithm.update(GROUPS)
    sampler = lora_policy.sampling_model()
    merged = Policy.load(tiny_model_config)
    merged.model.load_state_dict(_merged_state(lora_policy))
    for (name, got), want in zip(sampler.named_parameters(), merged.model.parameters()):
        assert torch.allclose(got, want, atol=1e-6), name
    assert any(not torch.equal(a, b) for a, b in zip(sampler.parameters(), Policy.load(tiny_model_config).model.parameters()))
    assert lora_policy.generate(QUESTIONS, 4, seed=2) == merged.generate(QUESTIONS, 4, seed=2)


def _merged_state(policy: Policy) -> dict[str, torch.Tensor]:
    """W + (alpha / r) B A for every adapted layer, computed here by hand from the adapter matrices."""
    state = {}
    for name, module in policy.model.named_modules():
        if name.endswith("_proj") and hasattr(module, "lora_A"):
            a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
            state[lora._plain_name(name) + ".weight"] = module.base_layer.weight + (b @ a) * module.scaling["default"]
    base = {k.replace(".base_layer.", "."): v for k, v in policy.model.get_base_model().state_dict().items() if "lora_" not in k}
    return {**base, **state}


def test_unknown_target_module_is_refused(tiny_model_config) -> None:
    with pytest.raises(ValueError, match="name no layer"):
        Policy.load(tiny_model_config.model_copy(update={"lora": LoraConfig(target_modules=["query"])}))


def test_kl_reference_of_a_lora_policy_is_its_base_model_without_a_copy(tiny_model_config, lora_policy) -> None:
    """beta > 0 with LoRA: the reference log-probs are the base model's (adapters off), before and after updates,
    while the trained policy moves away from them; no second model is built."""
    from node.algorithms.base import _AdaptersOff

    algorithm = build_algorithm(AlgorithmConfig(lr=5e-2, beta=0.1), lora_policy)
    assert isinstance(algorithm.reference, _AdaptersOff)
    batch = lora_policy.build_batch(GROUPS)
    base = Policy.load(tiny_model_config)
    with torch.no_grad():
        want = base.token_logprobs(batch)
    for _ in range(3):
        stats = algorithm.update(GROUPS)
    with torch.no_grad():
        reference, trained = algorithm.reference.token_logprobs(batch), lora_policy.token_logprobs(batch)
    mask = batch.completion_mask.bool()
    assert torch.allclose(reference[mask], want[mask], atol=1e-5)
    assert not torch.allclose(trained[mask], want[mask], atol=1e-3)
    assert stats.extra["kl"] > 0
