"""`swarm doctor`'s checks of this machine alone: identity file, listen port, disk, model, memory.

Each returns ``(name, ok, what was found, fix)`` and touches no network; only `memory_check` imports torch
(through `node.models.fit`, the estimate --model auto uses).

    >>> identity_check(Path("/nonexistent/identity.pem"))[:2]
    ('identity', False)
    >>> params_estimate("tiny-6m")
    6000000
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from node.config import ModelConfig, NodeConfig
from protocol.identity import Identity, IdentityError
from swarm import checks
from swarm.maddr import listen_host, tcp_port
from swarm.ports import free_port, port_in_use

Result = tuple[str, bool, str, str]
GIB = 1024**3
CHECKPOINT_BYTES_PER_PARAM = 28
"""float32 weights and two Adam moments (12 B), twice while a checkpoint replaces the last (24 B), plus the cached model (4 B)."""
_SAFETENSORS_DTYPE_BYTES = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "I8": 1, "U8": 1, "BOOL": 1}


def identity_check(path: Path) -> Result:
    try:
        ident = Identity.load(path)
    except IdentityError as exc:
        missing = not path.expanduser().exists()
        fix = (f"create one with `swarm identity new --path {path}` (or let `swarm join` create it), and back it up"
               if missing else str(exc).split("; ")[-1])
        return "identity", False, str(exc).split("; ")[0] if not missing else f"no key file at {path}", fix
    return "identity", True, f"peer id {ident.peer_id}, key file {path} (mode 0600)", ""


def port_check(host_maddrs: list[str]) -> list[Result]:
    results = []
    for maddr in host_maddrs:
        host, port = listen_host(maddr), tcp_port(maddr)
        if host is None or port is None:
            continue
        if port == 0:
            results.append(("port free", True, f"{host}: a random free port at each start", ""))
        elif port_in_use(host, port):
            results.append(("port free", False, f"port {port} on {host} is in use (another node on this host?)",
                            f"use another port: --port {free_port(host, port)} (free now), or stop the other process"))
        else:
            results.append(("port free", True, f"port {port} on {host} is free", ""))
    return results


def params_estimate(name: str) -> int | None:
    """Parameters of a preset (from its name, e.g. tiny-6m) or a model folder (its safetensors headers)."""
    match = re.search(r"-(\d+(?:\.\d+)?)([mb])$", name) if name in checks.PRESETS else None
    if match:
        return int(float(match.group(1)) * (1e6 if match.group(2) == "m" else 1e9))
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return None
    total = 0
    for path in folder.glob("*.safetensors"):
        total += _safetensors_params(path)
    return total or None


def _safetensors_params(path: Path) -> int:
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(min(size, 64 * 1024 * 1024)))
    return sum(math.prod(v.get("shape", [])) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict))


def disk_check(out: Path, model: str) -> Result:
    folder = out.expanduser()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    params = params_estimate(model)
    need = (params or 0) * CHECKPOINT_BYTES_PER_PARAM + 256 * 1024**2
    detail = f"{free / GIB:.1f} GiB free on the disk of {out}; checkpoints of {model} need about {need / GIB:.2f} GiB"
    ok = free >= need
    return "free disk", ok, detail, "" if ok else "free some space, or pass --out on a disk with more room"


def model_check(model: ModelConfig) -> Result:
    problem = checks.model_problem(model.name, model.allow_download)
    if problem is not None:
        return "model", False, problem.split(";")[0], problem
    return "model", True, f"{model.name} loads without the network", ""


def memory_check(node: NodeConfig) -> Result:
    """Whether one round of this node fits the device, by `node.models.fit`'s estimate (the one --model auto
    uses), against what is free now on a CPU and the device's total on CUDA (less `fit.HEADROOM`)."""
    from node.models import fit

    model = node.model
    shape = fit.PRESET_SHAPES.get(model.name) or folder_shape(model.name)
    if shape is None:
        return "model fits memory", True, f"size of {model.name} unknown here (a hub id): not checked", ""
    total, kind = fit.device_memory(model.device)
    have = total if kind == "cuda" else min(total, _available_ram())
    usable = int(have * (1 - fit.HEADROOM))
    lora = model.lora.r if model.lora is not None else None
    found = fit.fits(shape, fit.round_shape(node, kind), usable, lora)
    where = f"{kind} ({have / GIB:.1f} GiB{' available' if kind != 'cuda' else ''})"
    if found is None:
        need = fit.estimate(shape, replace(fit.round_shape(node, kind), micro_batch=fit.MIN_MICRO_BATCH), lora).total
        return ("model fits memory", False, f"{model.name} needs about {need / GIB:.2f} GiB per round; {where} has "
                f"{usable / GIB:.2f} GiB usable", "choose a smaller model (--model auto picks one that fits) or --generate-only")
    micro, need = found
    return "model fits memory", True, f"{model.name} needs about {need / GIB:.2f} GiB per round (micro-batch {micro}); {where}", ""


def folder_shape(name: str) -> Any:
    """`fit.ModelShape` of a model folder, from its config.json (None if there is none or it lacks a field)."""
    from node.models import fit

    try:
        c = json.loads((Path(name).expanduser() / "config.json").read_text())
        return fit.ModelShape(c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                              c.get("num_key_value_heads", c["num_attention_heads"]), c["intermediate_size"],
                              c["vocab_size"], bool(c.get("tie_word_embeddings", True)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _available_ram() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
