"""Shared fixtures: a warm-started tiny policy built once per test session in a temporary cache."""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C tests need processes that act on SIGINT. A shell starts background jobs (`make test &`) with
    SIGINT ignored, and children inherit that: every `swarm` started by a test would then ignore it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def tiny_model_config(tmp_path_factory: pytest.TempPathFactory):
    """ModelConfig of preset tiny-0.5m in a session cache, built on first request (~10 CPU-s)."""
    from node.config import ModelConfig
    from node.models import ensure_model

    config = ModelConfig(name="tiny-0.5m", cache_dir=str(tmp_path_factory.mktemp("models")))
    ensure_model(config)
    return config


@pytest.fixture
def tiny_policy(tiny_model_config):
    """A fresh warm-started tiny policy per test (a cache hit, ~0.1 s), free to train."""
    from node.policy import Policy

    return Policy.load(tiny_model_config)
