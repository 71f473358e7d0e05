"""The common mistakes of `swarm join`/`swarm run`, each caught before anything heavy starts, as one line.

Every check is a plain function that returns None (fine) or the message to print, with its fix. None
imports torch or hivemind, except `cuda_problem`, which imports torch only on a CUDA build of torch.

    >>> model_problem("tiny-6M")
    "--model tiny-6M is not a preset, a model folder or a hub id in the local cache; did you mean tiny-6m? (presets: smollm2-135m, tiny-0.5m, tiny-1.5m, tiny-16m, tiny-6m)"
    >>> device_problem("tpu")
    '--device tpu is not supported: use auto, cpu, cuda, cuda:N or mps'
    >>> parse_gpus("a,b")
    Traceback (most recent call last):
    ...
    ValueError: --gpus takes GPU indexes separated by commas, e.g. --gpus 0,1 (got 'a,b')
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swarm.config import RunConfig

PRESETS = ("smollm2-135m", "tiny-0.5m", "tiny-1.5m", "tiny-16m", "tiny-6m")
"""`node.models.MODEL_PRESETS`' names (a unit test keeps the two equal; importing it here would load torch)."""
GPU_README = "see README.md, section \"GPU nodes\", to install the CUDA build of torch"
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def model_problem(name: str, allow_download: bool = False) -> str | None:
    """Why `name` cannot be loaded offline (a preset, a model folder, or a hub id in the local HF cache)."""
    if not name.strip():
        return f"--model is empty: name a preset ({', '.join(PRESETS)}), a model folder, or auto"
    if name in PRESETS:
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        return None if (path / "config.json").exists() else f"--model {name}: the folder has no config.json (not a Hugging Face model folder)"
    if name.startswith(("/", ".", "~")) or path.exists():
        return f"--model {name}: no model folder there"
    if allow_download or _in_hf_cache(name):
        return None
    close = difflib.get_close_matches(name.lower(), PRESETS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return (f"--model {name} is not a preset, a model folder or a hub id in the local cache; {hint}"
            f"(presets: {', '.join(PRESETS)})")


def _in_hf_cache(repo_id: str) -> bool:
    if repo_id.count("/") != 1:
        return False
    home = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    return (home.expanduser() / f"models--{repo_id.replace('/', '--')}").is_dir()


def wire_name(name: str) -> str:
    """The model name a node announces (and writes in node.json) for `name`: a folder's name, else `name`."""
    path = Path(name).expanduser()
    return path.name if name not in PRESETS and path.is_dir() else name


def state_model(out: Path) -> str | None:
    """The model whose checkpoint a state folder holds (from node.json or the last metrics line), or None."""
    if not (out / "checkpoint" / "checkpoint.pt").exists():
        return None
    for read in (lambda: json.loads((out / "node.json").read_text())["model"], lambda: _last_metrics_model(out)):
        try:
            model = read()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(model, str) and model:
            return model
    return None


def _last_metrics_model(out: Path) -> str | None:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1]).get("model") if lines else None


def state_problem(out: Path, name: str) -> str | None:
    """Why model `name` cannot resume from state folder `out` (it holds another model's checkpoint)."""
    held = state_model(out)
    if held is None or held == wire_name(name):
        return None
    return (f"the state folder {out} holds a checkpoint of model {held}, not {name}: resume it with --model {held}, "
            f"or start a new node with another --out folder")


def device_problem(device: str) -> str | None:
    if _DEVICE.match(device):
        return None
    return f"--device {device} is not supported: use auto, cpu, cuda, cuda:N or mps"


def parse_gpus(text: str) -> list[int]:
    """``"0,1"`` -> [0, 1]; `ValueError` with the fix for anything else."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items or not all(t.isdigit() for t in items):
        raise ValueError(f"--gpus takes GPU indexes separated by commas, e.g. --gpus 0,1 (got {text!r})")
    gpus = [int(t) for t in items]
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus names a GPU twice ({text!r})")
    return gpus


def torch_cuda_build() -> bool | None:
    """Whether the installed torch is a CUDA build, read from torch/version.py without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        text = version.read_text()
    except OSError:
        return None
    match = re.search(r"^cuda\s*(?::\s*[^=]+)?=\s*(.+)$", text, re.M)
    return match is not None and match.group(1).strip() not in ("None", "''", '""')


def cuda_problem(flag: str, gpus: list[int] | None = None) -> str | None:
    """Why `flag` (``--device cuda`` or ``--gpus 0,1``) cannot run here: a CPU build of torch, no visible
    CUDA device, or fewer GPUs than asked for."""
    if torch_cuda_build() is False:
        return f"{flag} needs a CUDA build of torch, and this one is the CPU build: {GPU_README}"
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return f"{flag}: torch sees no CUDA device (driver, or CUDA_VISIBLE_DEVICES?); run without it to use the CPU"
    missing = [g for g in gpus or [] if g >= count]
    if missing:
        return f"{flag}: this machine has {count} GPU(s) (0..{count - 1}); no GPU {', '.join(map(str, missing))}"
    return None


def version_key(version: str) -> tuple[int, ...]:
    """``"0.10.2"`` -> (0, 10, 2) for comparing releases; anything unparsable sorts first."""
    parts = re.findall(r"\d+", version.split("+")[0])
    return tuple(int(p) for p in parts[:4]) if parts else (-1,)


def node_problems(cfg: "RunConfig", folders: list[Path], gpus: list[int], model_named: bool = True) -> list[str]:
    """Every mistake above that applies to a node config (one message each). ``model_named``: False for
    --model auto, which picks a model that loads (the one a state folder already holds)."""
    model = cfg.node.model
    problems = [device_problem(model.device)]
    if model_named:
        problems += [model_problem(model.name, model.allow_download), *(state_problem(f, model.name) for f in folders)]
    if gpus:
        problems.append(cuda_problem(f"--gpus {','.join(map(str, gpus))}", gpus))
    elif model.device.startswith("cuda"):
        problems.append(cuda_problem(f"--device {model.device}"))
    return [p for p in problems if p is not None]
