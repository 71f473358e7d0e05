"""benchmarks.gpu_round under a memory cap: a kind whose update does not fit is a row that says so, not a crash
(what `--memory-gib 8` showed on an H200: the 494M model's full update does not fit, LoRA does)."""

from __future__ import annotations

import argparse

import pytest
import torch

from benchmarks import gpu_round
from node.oom import OutOfMemory


def test_an_update_that_does_not_fit_is_a_row_not_a_crash(tiny_policy, monkeypatch, capsys) -> None:
    pytest.importorskip("peft")
    build = gpu_round.build_algorithm

    def build_full_without_room(config, policy):
        algorithm = build(config, policy)
        if policy is tiny_policy:  # all weights: as if gradients and Adam's state did not fit
            def update(groups):
                raise OutOfMemory("the optimizer step of tiny-0.5m ran out of memory on cuda: gradients and Adam state do not fit")
            algorithm.update = update
        return algorithm

    monkeypatch.setattr(gpu_round, "build_algorithm", build_full_without_room)
    args = argparse.Namespace(prompts=2, completions=4, new_tokens=6, prompt_tokens=24, micro_batch=8, repeats=1,
                              lr=1e-6, memory_gib=8.0, model="tiny-0.5m")
    result = gpu_round.update_rows(tiny_policy, args, torch.device("cpu"))
    assert result["full"] == {"fits": False, "trained_parameters": sum(p.numel() for p in tiny_policy.parameters()),
                              "error": "the optimizer step of tiny-0.5m ran out of memory on cuda: gradients and Adam state do not fit"}
    lora = result["lora"]
    assert lora["fits"] and lora["micro_batch"] == 8 and lora["oom_backoffs"] == 0 and lora["seconds"] > 0
    assert "lora_over_full_peak" not in result  # no ratio against a row that did not run

    gpu_round.print_table({"meta": {"device": "cpu"}, "update": result}, args)
    out = capsys.readouterr().out
    assert "memory capped at 8 GiB" in out and "does not fit" in out and "gradients and Adam state" in out


def test_the_cap_is_refused_off_cuda() -> None:
    with pytest.raises(SystemExit):
        gpu_round.parse_args(["--memory-gib", "8", "--device", "cpu"])
