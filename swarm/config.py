"""The one configuration schema, loaded from YAML and validated on load.

A config file has up to four sections: ``node`` (see `node.config.NodeConfig`), ``transport``
(see `swarm.transports.config.TransportConfig`), ``testnet`` (see `TestnetConfig`) and ``supervisor``
(see `swarm.supervisor.SupervisorConfig`). Unknown keys
and bad values are refused with an error naming the key and what is allowed.

    >>> cfg = RunConfig.model_validate({"node": {"round": {"rounds": 3}}})
    >>> cfg.node.round.rounds, cfg.transport.type
    (3, 'hivemind')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from node.config import ModelConfig, NodeConfig, TaskFamilyConfig
from swarm.supervisor import SupervisorConfig
from swarm.transports.config import TransportConfig


class ConfigError(Exception):
    """Raised when a config file is missing, not YAML, or fails validation; the message names the key."""


class TestnetNodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    model: str | None = None
    """Model preset or path for this node (None: the node section's model)."""
    families: list[TaskFamilyConfig] | None = None
    """Task families for this node (None: the node section's families)."""


class TestnetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)
    __test__ = False  # not a pytest test class

    nodes: int = Field(4, ge=1, le=64)
    """Number of node processes on this machine."""
    profiles: list[TestnetNodeConfig] = Field(default_factory=list)
    """Per-node overrides, applied round-robin (heterogeneous swarm)."""
    stagger_s: float = Field(1.0, ge=0.0, le=60.0)
    """Delay between node starts (at most ~3 nodes should bootstrap at once)."""
    threads_per_node: int = Field(1, ge=1, le=64)
    """torch threads per node process."""
    max_bootstrapping: int = Field(3, ge=1, le=64)
    """Most nodes joining the DHT at once; the next one starts when an earlier one is up."""
    allow_list: bool = True
    """Close the testnet to the generated peer ids (transport.allowed_peers), on top of the secret."""
    timeout_s: float = Field(1800.0, gt=0.0)
    """Stop every process after this many seconds, finished or not."""
    grace_s: float = Field(10.0, ge=0.0, le=300.0)
    """Seconds between SIGTERM and SIGKILL when stopping the processes."""


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    node: NodeConfig = Field(default_factory=NodeConfig)
    """The SAPO node."""
    transport: TransportConfig = Field(default_factory=TransportConfig)
    """Gossip over the DHT."""
    testnet: TestnetConfig = Field(default_factory=TestnetConfig)
    """Only read by `swarm testnet`."""
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    """Only read by `swarm join`: restarts of crashed node processes."""


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {key}: {message} (got {err.get('input')!r:.60})")
    return "\n".join(lines)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["node.round.rounds=5", "transport.swarm_id=x"]`` -> nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        path, raw = item.split("=", 1)
        cursor = out
        parts = path.strip().split(".")
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[parts[-1]] = yaml.safe_load(raw)
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML file (or defaults), apply ``key=value`` overrides, validate."""
    data: dict[str, Any] = {}
    source = "(defaults)"
    if path is not None:
        source = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping at the top level")
    data = _deep_merge(data, parse_overrides(overrides or []))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def with_model(node: NodeConfig, model: str) -> NodeConfig:
    """A copy of a node config with another model preset or path."""
    return node.model_copy(update={"model": ModelConfig(**{**node.model.model_dump(), "name": model})})
