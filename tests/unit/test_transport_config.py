"""The transport section's keys: `request_timeout_s` is one network call, not the round's collect deadline."""

from __future__ import annotations

import pytest

from swarm.config import ConfigError, load_config
from swarm.transports.config import TransportConfig


def test_the_old_key_fails_naming_the_new_one() -> None:
    with pytest.raises(ConfigError, match=r"transport\.collect_timeout_s is now transport\.request_timeout_s"):
        load_config(None, ["transport.collect_timeout_s=2"])
    with pytest.raises(ValueError, match="request_timeout_s"):
        TransportConfig(collect_timeout_s=2.0)


def test_the_two_deadlines_are_set_apart() -> None:
    cfg = load_config(None, ["transport.request_timeout_s=1.5", "node.round.collect_timeout_s=4"])
    assert cfg.transport.request_timeout_s == 1.5 and cfg.node.round.collect_timeout_s == 4.0
