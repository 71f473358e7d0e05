"""`--model auto`'s memory estimate and choice, with mocked device sizes (no device is touched)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.config import NodeConfig
from node.models.fit import (GIB, HEADROOM, PRESET_SHAPES, ModelShape, RoundShape, estimate, fits, pick_model,
                             round_shape)

QWEN25_05B = ModelShape(hidden=896, layers=24, heads=14, kv_heads=2, intermediate=4864, vocab=151936)
JOIN = NodeConfig.model_validate({"sampler": {"local_i": 8, "external_j": 8, "completions_l": 8},
                                  "algorithm": {"beta": 0.04}})  # configs/join.yaml


def test_parameter_counts_match_the_models() -> None:
    assert QWEN25_05B.parameters == pytest.approx(494.0e6, rel=0.002)  # Qwen2.5-0.5B: 494M (no qkv biases here)
    assert PRESET_SHAPES["smollm2-135m"].parameters == pytest.approx(134.5e6, rel=0.002)


def test_estimate_matches_the_measured_h100_peak() -> None:
    # benchmarks/results/gpu_round.txt: 494M, update of 64 x 387 tokens at micro-batch 16 peaked at 34.1 GiB
    measured = 34.1 * GIB
    got = estimate(QWEN25_05B, RoundShape(update_rows=64, generate_rows=64, sequence_tokens=387, micro_batch=16)).total
    assert abs(got - measured) / measured < 0.1


def test_lora_and_smaller_micro_batches_need_less() -> None:
    shape = round_shape(JOIN, "cuda")
    full, adapters = estimate(QWEN25_05B, shape), estimate(QWEN25_05B, shape, lora_r=16)
    assert adapters.gradients + adapters.optimizer < 0.02 * (full.gradients + full.optimizer)
    assert estimate(QWEN25_05B, replace(shape, micro_batch=8)).total < full.total
    assert shape == RoundShape(update_rows=128, generate_rows=64, sequence_tokens=134, micro_batch=64, compute_bytes=2,
                               reference=True)
    assert round_shape(JOIN, "cpu").compute_bytes == 4


def test_a_kl_reference_costs_a_float32_copy_of_the_weights_except_with_lora() -> None:
    shape = round_shape(JOIN, "cuda")
    without = replace(shape, reference=False)
    assert estimate(QWEN25_05B, shape).reference == 4 * QWEN25_05B.parameters
    assert estimate(QWEN25_05B, shape).total > estimate(QWEN25_05B, without).total
    assert estimate(QWEN25_05B, shape, lora_r=16).total == estimate(QWEN25_05B, without, lora_r=16).total
    assert round_shape(JOIN.model_copy(update={"algorithm": JOIN.algorithm.model_copy(update={"beta": 0.0})}),
                       "cuda").reference is False


@pytest.mark.parametrize("gib, kind, name, lora, micro", [
    (80, "cuda", "smollm2-135m", False, 64),
    (8, "cuda", "smollm2-135m", False, 16),   # fits once the micro-batch is lowered
    (3, "cuda", "tiny-16m", False, 64),       # smollm2 needs ~3.1 GiB even at micro-batch 4
    (64, "cpu", "tiny-16m", False, 64),       # CPU stops at the tiny presets
    (0.25, "cpu", "tiny-6m", False, 4),
])
def test_pick_model_with_mocked_memory(gib: float, kind: str, name: str, lora: bool, micro: int) -> None:
    choice = pick_model(int(gib * GIB), kind, round_shape(JOIN, kind))
    assert (choice.name, choice.lora, choice.micro_batch) == (name, lora, micro), choice.reason
    assert choice.estimate_bytes <= int(gib * GIB * (1 - HEADROOM))
    assert f"{gib:.1f} GiB {kind}" in choice.reason and f"micro-batch {micro}" in choice.reason


def test_lora_only_when_no_full_update_fits() -> None:
    big = {"qwen": QWEN25_05B, "tiny-0.5m": PRESET_SHAPES["tiny-0.5m"]}
    shape = round_shape(JOIN, "cuda")
    assert pick_model(4 * GIB, "cuda", shape, shapes=big).name == "tiny-0.5m"  # a smaller full model comes first
    choice = pick_model(8 * GIB, "cuda", shape, shapes={"qwen": QWEN25_05B})
    assert (choice.name, choice.lora) == ("qwen", True) and "LoRA (r=16)" in choice.reason
    assert fits(QWEN25_05B, shape, 8 * GIB) is None
    assert pick_model(80 * GIB, "cuda", shape, force_lora=True, shapes=big).lora
    hopeless = pick_model(GIB // 100, "cuda", shape, shapes={"qwen": QWEN25_05B})
    assert hopeless.lora and "nothing fits" in hopeless.reason
