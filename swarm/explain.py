"""`swarm config --explain`: the resolved config's plug-ins, each option with its value and its docstring.

Every plug-in section (the sampler's strategy and split, the algorithm) names a registry entry by
`type`; the entry's options model is the only documentation of its options, so this reads it there.

    >>> from swarm.config import RunConfig
    >>> text = explain(RunConfig.model_validate({"node": {"sampler": {"split": {"type": "fill"}}}}))
    >>> print(text.splitlines()[2])
    node.sampler.split.type: fill   (known: fill, fixed, supply)
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from node.algorithms import algorithm_names, algorithm_options
from node.registry import PluginOptions
from node.sampler import SPLITS, STRATEGIES, split_options, strategy_options
from swarm.config import RunConfig


def plugin_sections(config: RunConfig) -> Iterator[tuple[str, str, list[str], PluginOptions, type[PluginOptions]]]:
    """(section, chosen type, known types, its options, its options model) of each plug-in section."""
    node = config.node
    yield "node.sampler", node.sampler.type, sorted(STRATEGIES), node.sampler.options, strategy_options(node.sampler.type)
    split = node.sampler.split
    yield "node.sampler.split", split.type, sorted(SPLITS), split.options, split_options(split.type)
    algorithm = node.algorithm
    yield "node.algorithm", algorithm.type, algorithm_names(), algorithm.options, algorithm_options(algorithm.type)


def explain(config: RunConfig) -> str:
    """The plug-in sections of `config`: type, the known types, every option with value, default and doc."""
    lines: list[str] = []
    for section, chosen, known, options, model in plugin_sections(config):
        lines.append(f"{section}.type: {chosen}   (known: {', '.join(known)})")
        lines.extend(_options(f"{section}.options", options, model))
    return "\n".join(lines)


def _options(prefix: str, options: BaseModel, model: type[PluginOptions]) -> Iterator[str]:
    if not model.model_fields:
        yield f"  {prefix}: none (any key is refused)"
    for name, field in model.model_fields.items():
        yield f"  {prefix}.{name}: {getattr(options, name)!r}   (default {field.default!r})"
        for line in (field.description or "").splitlines():
            yield f"      {line.strip()}"


def catalogue() -> str:
    """Every registered strategy and split with its option names (what `type` may be set to)."""
    lines = ["sampler strategies (node.sampler.type):"]
    lines += [f"  {name}: {', '.join(entry.options.model_fields) or 'no options'}" for name, entry in sorted(STRATEGIES.items())]
    lines.append("sampler splits (node.sampler.split.type):")
    lines += [f"  {name}: {', '.join(split.Options.model_fields) or 'no options'}" for name, split in sorted(SPLITS.items())]
    lines.append("algorithms (node.algorithm.type):")
    lines += [f"  {name}: {', '.join(algorithm_options(name).model_fields) or 'no options'}" for name in algorithm_names()]
    return "\n".join(lines)
