"""Which model builds the poisoning grid runs on, and how each logged run shows it ran on them.

A tiny preset is trained on this machine, so its bytes depend on the CPU kernels torch dispatches to: the same
recipe and packages build one tiny-0.5m under AVX2 kernels and another under AVX512 (`node.models.provenance`).
Seed 0 of the grid ran on both before this module existed (its first 20 runs on one host's AVX2 build, its
last 5 on another host's AVX512 build, both from the default model cache), and the report compared runs
across the two. So the grid now
- runs under torch's AVX2 kernels, which every x86-64 host of the last decade has (`ensure_kernels` restarts
  the command with ``ATEN_CPU_CAPABILITY=avx2`` unless the caller chose a kernel set),
- builds its models in a cache of its own (``runs/benchmarks/poison/models``, unless $SAPO_SWARM_CACHE is set),
- refuses to start when a build is not the pinned one (`PINNED`, checked by `check_pinned`),
- records in every run row the sha256 of each model the run loaded (``builds``) and the host,
- analyses only runs on the pinned builds (`on_pinned`); others go to a log of their own, never analysed.

Rows logged before rows carried ``builds`` are checked by `round0_matches`: round 0 of the row's spec is
rerun on the pinned builds, and every honest node's round-0 reward (its own completions before any training,
to 5 decimals) must equal the row's. A different build gives other completions from the first round on.

    >>> sorted(PINNED)
    ['smollm2-135m', 'tiny-0.5m', 'tiny-1.5m']
    >>> on_pinned({"spec": {"models": ["tiny-0.5m"]}, "builds": {"tiny-0.5m": PINNED["tiny-0.5m"]}})
    True
    >>> on_pinned({"spec": {"models": ["tiny-0.5m"]}})
    False
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

from benchmarks.common import REPO, SCRATCH
from node.models.cache import CACHE_ENV

KERNELS = "avx2"
"""Torch's CPU kernel set for the grid (``ATEN_CPU_CAPABILITY``)."""

PINNED = {
    "tiny-0.5m": "1d84b9b195d37dc1f935dd9af1b7d6d82f80ffc1a0a60a2ddb4ba2df543cb2e9",
    "tiny-1.5m": "6763d8b879b9cec82adf212953f1159ba6f173bf7bc1f72125b613cbe1238c27",
    "smollm2-135m": "a672150fb4f99d7c8f4168cecdd464069c0ef3a37d8113f22ddb9d48031d03cd",
}
"""sha256 of each preset's weights as the grid builds it (testnet recipe, seed 0, AVX2 kernels, the packages
pinned in pyproject.toml). Under AVX512 kernels the same recipes build tiny-0.5m 752208e0... (the build seed 0's
last 5 runs loaded) and tiny-1.5m 679b04bb...; SmolLM2 is converted from its GGUF file, the same bytes on both."""

CACHE = SCRATCH / "poison" / "models"


def ensure_kernels(module: str = "benchmarks.poison") -> None:
    """Restart this command under ``ATEN_CPU_CAPABILITY=avx2`` unless the variable is set (before torch runs any op)."""
    if "ATEN_CPU_CAPABILITY" in os.environ:
        return
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "ATEN_CPU_CAPABILITY": KERNELS, "PYTHONPATH": path}
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)


def use_own_cache() -> None:
    """Build and read the grid's models in `CACHE` unless $SAPO_SWARM_CACHE names another folder."""
    os.environ.setdefault(CACHE_ENV, str(CACHE))


def weights_digest(folder: Path) -> str:
    """sha256 of a model folder's weight file (of the sorted per-file digests if it has several)."""
    from node.models.provenance import weights_sha256

    files = weights_sha256(folder)
    if len(files) == 1:
        return next(iter(files.values()))
    return hashlib.sha256("".join(f"{name}:{digest}\n" for name, digest in sorted(files.items())).encode()).hexdigest()


def build_all(presets: Iterable[str]) -> dict[str, str]:
    """Build (or find cached) each preset the way a run loads it; its weights' sha256 by preset."""
    from benchmarks.poison.swarm import TESTNET, PoisonSpec, config_of
    from node.models import ensure_model

    return {name: weights_digest(ensure_model(config_of(PoisonSpec(models=(name,), rounds=1), 0).model,
                                              TESTNET.warm_families, seed=0))
            for name in sorted(set(presets))}


def check_pinned(builds: dict[str, str]) -> list[str]:
    """One line per build that is not the pinned one (empty: all pinned)."""
    from node.models.provenance import cpu_kernels

    return [f"{name}: built {digest[:12]}..., pinned {PINNED.get(name, '(none)')[:12]}... (torch kernels "
            f"{cpu_kernels()}, cache {os.environ.get(CACHE_ENV, 'default')})"
            for name, digest in sorted(builds.items()) if PINNED.get(name) != digest]


def pinned_for(models: Iterable[str]) -> dict[str, str]:
    return {name: PINNED.get(name, "") for name in sorted(set(models))}


def on_pinned(row: dict[str, Any]) -> bool:
    """Whether a logged run loaded exactly the pinned build of each of its models."""
    return row.get("builds") == pinned_for(row["spec"]["models"])


def spec_of(row: dict[str, Any]) -> Any:
    """The `PoisonSpec` a run row was made from (its JSON lists back to tuples)."""
    from benchmarks.poison.swarm import PoisonSpec

    def tuples(value: Any) -> Any:
        return tuple(tuples(v) for v in value) if isinstance(value, list) else value

    names = {f.name for f in fields(PoisonSpec)}
    return PoisonSpec(**{k: tuples(v) for k, v in row["spec"].items() if k in names})


def round0_matches(row: dict[str, Any]) -> bool:
    """Rerun round 0 of the row's spec here; True if every honest node's round-0 reward equals the row's."""
    from dataclasses import replace

    from benchmarks.poison.swarm import run_poisoned

    again = run_poisoned(replace(spec_of(row), rounds=1))
    return [r[0] for r in again["reward"]] == [r[0] for r in row["reward"]]
