"""What a node reports about its hardware each round: which device, compile time, OOM backoffs, peak memory.

    >>> device_label(torch.device("cpu"))
    'cpu'
    >>> device_label(torch.device("cuda:0"), visible="2,3", name="NVIDIA H200")
    'cuda:0 (GPU 2, NVIDIA H200)'

`swarm join --gpus 0,1` starts one node per GPU with CUDA_VISIBLE_DEVICES set to that GPU, so inside
the node every GPU is cuda:0; the label names the host's GPU index so two nodes' rows can be told apart.
"""

from __future__ import annotations

import os
from typing import Any

import torch

GIB = 1024**3


def device_label(device: torch.device, visible: str | None = None, name: str | None = None) -> str:
    """"cpu", "mps", or "cuda:N (GPU <host index>, <name>)"."""
    if device.type != "cuda":
        return device.type
    index = device.index or 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "") if visible is None else visible
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    host_index = ids[index] if index < len(ids) else str(index)
    if name is None:
        name = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "unknown"
    return f"cuda:{index} (GPU {host_index}, {name})"


def runtime_fields(policy: Any, algorithm: Any) -> dict[str, Any]:
    """Per-round metrics of the hardware side; called once per round, after the update.

    compile_s is the compile time spent during this round (0 once the decode step is warm); peak_gib is
    the peak of allocated GPU memory since the last call (None off cuda).
    """
    device = getattr(policy, "device", torch.device("cpu"))
    decoder = getattr(policy, "decoder", None)
    generate_batch = getattr(policy, "generate_batch", None)
    update_batch = getattr(algorithm, "micro_batch", None)
    fields: dict[str, Any] = {
        "device": device_label(device) if isinstance(device, torch.device) else str(device),
        "compile_s": round(decoder.take_compile_seconds(), 3) if decoder is not None else 0.0,
        "generate_micro_batch": getattr(generate_batch, "size", None),
        "update_micro_batch": getattr(update_batch, "size", None),
        "oom_backoffs": sum(getattr(b, "backoffs", 0) for b in (generate_batch, update_batch) if b is not None),
        "peak_gib": None,
    }
    if isinstance(device, torch.device) and device.type == "cuda" and torch.cuda.is_available():
        fields["peak_gib"] = round(torch.cuda.max_memory_allocated(device) / GIB, 3)
        torch.cuda.reset_peak_memory_stats(device)
    return fields
