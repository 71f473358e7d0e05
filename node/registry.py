"""The one registry style of every plug-in kind: a dict from key to entry, `register_*` and `build_*`.

Sampler strategies (`node.sampler.STRATEGIES`), I/J splits (`node.sampler.SPLITS`), algorithms
(`node.algorithms.ALGORITHMS`), task generators (`node.tasks.GENERATORS`) and model presets
(`node.models.MODEL_PRESETS`) are each a module-level dict in their package's `__init__`, filled by a
`register_*` function and read by a `build_*` function. A key that is not there fails the same way
everywhere, naming the kind, the key and the keys that exist:

    >>> lookup({"uniform": 1, "variance": 2}, "unifrom", "sampler strategy")
    Traceback (most recent call last):
    ...
    node.registry.UnknownPluginError: unknown sampler strategy 'unifrom'; known: uniform, variance

A plug-in that takes options declares them as a `PluginOptions` model: one field per option, its
docstring below it, bounds in `Field(...)`, unknown keys refused. The config validates a section's
`options` against the model of the entry its `type` names (`validate_options`), so a typo fails at
load, not at round 0.

Reference: prime-rl `orchestrator/algo/__init__.py` (a dict registry next to its build function).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T")


class UnknownPluginError(KeyError, ValueError):
    """Raised when a config or a caller names a key that its registry does not hold.

    Raised at config load (an unknown `type`) and by `build_*`; never for a plug-in that fails while
    being built (that is the plug-in's own error). A KeyError for lookups, a ValueError for validators.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PluginOptions(BaseModel):
    """Base of every plug-in's options: frozen, unknown keys refused, one docstring per field."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class NoOptions(PluginOptions):
    """A plug-in without options: any key is refused."""


def lookup(registry: Mapping[str, T], key: str, kind: str, also_known: Iterable[str] = ()) -> T:
    """`registry[key]`, or `UnknownPluginError` naming `kind`, `key` and the known keys."""
    if key in registry:
        return registry[key]
    known = ", ".join(sorted(set(registry) | set(also_known)))
    raise UnknownPluginError(f"unknown {kind} {key!r}; known: {known}")


def register(registry: dict[str, T], key: str, entry: T) -> T:
    """Put `entry` under `key` (replacing an earlier one) and return it."""
    if not key or not isinstance(key, str):
        raise ValueError(f"a registry key must be a non-empty string, got {key!r}")
    registry[key] = entry
    return entry


def validate_options(model: type[PluginOptions], value: Any, where: str) -> PluginOptions:
    """`value` (a mapping or an instance) as `model`; a ValueError names each bad key and the valid ones.

    An instance of another options model is re-read from the keys it was given (`exclude_unset`).

    >>> class Opts(PluginOptions):
    ...     decay: float = 0.9
    >>> validate_options(Opts, {"decy": 0.5}, "sampler strategy 'demo'")
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'decy' of sampler strategy 'demo' (valid: decay)
    """
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_unset=True)
    try:
        return model.model_validate(value if value is not None else {})
    except ValidationError as exc:
        raise ValueError(_describe(exc, model, where)) from None


def _describe(exc: ValidationError, model: type[PluginOptions], where: str) -> str:
    valid = ", ".join(model.model_fields) or "none"
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown option {key!r} of {where} (valid: {valid})")
        else:
            lines.append(f"option {key!r} of {where}: {err['msg']}")
    return "; ".join(lines)


__all__ = ["NoOptions", "PluginOptions", "UnknownPluginError", "lookup", "register", "validate_options"]
