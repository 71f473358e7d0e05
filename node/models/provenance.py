"""What a built model is, exactly: the sha256 of its weight files and the package versions that made it.

A tiny preset is built here from a recipe (`node.models.tiny.tiny_recipe`), so its weights depend on the
recipe *and* on the libraries that ran it: another torch, transformers, tokenizers, numpy or
reasoning_gym release can train another tokenizer or take other warm-start steps from the same recipe.
So does the CPU: torch's kernels for AVX2 and for AVX512 round differently, and the same recipe and
packages build other bytes on each (`cpu_kernels`, recorded beside the versions).
The cache writes `build.json` next to every model it builds, and a run log records it
(`swarm.runner` puts it in each node's `node.json`), so a result names the model behind it and a fresh
clone can check that it rebuilt the same one.

    >>> sorted(package_versions())
    ['numpy', 'python', 'reasoning_gym', 'safetensors', 'tokenizers', 'torch', 'transformers']
    >>> build_info(Path("/nonexistent"))["weights"]
    {}
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

BUILD_FILE = "build.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "reasoning_gym", "safetensors")
"""Packages whose release can change a built model's bytes (safetensors: the file format itself)."""


def package_versions() -> dict[str, str]:
    """The installed version of every package in `PACKAGES` (None-safe: "absent"), and Python's."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def cpu_kernels() -> str:
    """The SIMD kernel set torch dispatches CPU ops to on this machine ("AVX2", "AVX512", ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def weights_sha256(folder: Path) -> dict[str, str]:
    """sha256 of each weight file directly in `folder`, by file name."""
    if not folder.is_dir():
        return {}
    return {path.name: _sha256(path) for path in sorted(folder.iterdir())
            if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_build(folder: Path, recipe: dict[str, Any]) -> dict[str, Any]:
    """Write `folder/build.json` (weights' sha256, package versions, recipe) for a model just built there."""
    info = {"weights": weights_sha256(folder), "versions": package_versions(), "cpu_kernels": cpu_kernels(),
            "recipe": recipe}
    (folder / BUILD_FILE).write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    return info


def build_info(folder: Path) -> dict[str, Any]:
    """What `record_build` wrote for `folder`; for a model without it (built before it existed, or not by
    the cache) the weights are hashed now and the versions that built it are unknown (None)."""
    path = folder / BUILD_FILE
    if path.is_file():
        return json.loads(path.read_text())
    return {"weights": weights_sha256(folder), "versions": None, "recipe": None}
