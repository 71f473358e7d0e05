"""The base models of every node config section: strict (unknown keys fail, naming them), frozen, documented by
the docstring under each field; and the plug-in section, whose `options` are typed by its registry entry.

Reference: prime-rl `configs/` (pydantic, attribute docstrings, bounds in Field).
"""

from __future__ import annotations

from typing import Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from node.registry import NoOptions, PluginOptions, validate_options

Scalar = Union[str, int, float, bool, None]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class PluginSection(Strict):
    """A section whose `type` names a registry entry and whose `options` are validated by that entry's
    options model (unknown types and keys fail at load, naming them). Subclasses declare `type` before
    `options` and say which registry to read in `_options_model`."""

    _section: ClassVar[str] = "plugin"

    @classmethod
    def _options_model(cls, key: str) -> type[PluginOptions]:
        raise NotImplementedError

    @field_validator("type", check_fields=False)
    @classmethod
    def _known_type(cls, value: str) -> str:
        cls._options_model(value)  # UnknownPluginError (a ValueError) names the known keys
        return value

    @field_validator("options", mode="before", check_fields=False)
    @classmethod
    def _typed_options(cls, value: Any, info: ValidationInfo) -> PluginOptions:
        if "type" not in info.data:  # the unknown type is reported already
            return NoOptions()
        key = info.data["type"]
        return validate_options(cls._options_model(key), value, f"{cls._section} {key!r}")
