"""Logging configured once per command (`swarm.logs`): level, format, node.log, hivemind kept quiet."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from swarm import logs


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(logs.ENV_LEVEL, raising=False)
    monkeypatch.delenv("HIVEMIND_LOGLEVEL", raising=False)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def test_level_from_the_option_then_the_environment_then_info(monkeypatch: pytest.MonkeyPatch) -> None:
    assert logs.configure(None) == logging.INFO
    monkeypatch.setenv(logs.ENV_LEVEL, "warning")
    assert logs.configure(None) == logging.WARNING
    assert logs.configure("debug") == logging.DEBUG and logging.getLogger().level == logging.DEBUG
    with pytest.raises(ValueError, match="loud"):
        logs.configure("loud")


def test_lines_carry_time_node_and_logger_and_reach_node_log(tmp_path: Path) -> None:
    log_file = tmp_path / "n3" / "node.log"
    logs.configure("info", node="n3", log_file=log_file)
    logging.getLogger("node.round").info("round 1  reward 0.500")
    logging.getLogger("node.round").debug("not at info")
    (line,) = log_file.read_text().splitlines()
    date, clock, node, name, level, *rest = line.split(" ")
    assert (node, name, level) == ("n3", "node.round", "INFO:") and " ".join(rest) == "round 1  reward 0.500"
    assert len(date) == 10 and clock.count(":") == 2


def test_no_second_handler_when_stderr_already_is_node_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_file = tmp_path / "node.log"
    with log_file.open("a") as stream:  # what a parent does: the child's stderr appended to node.log
        monkeypatch.setattr(sys, "stderr", stream)
        logs.configure("info", node="n0", log_file=log_file)
        logging.getLogger("node.round").info("once")
        stream.flush()
    assert log_file.read_text().count("once") == 1


def test_hivemind_stays_at_warning_unless_debug_is_asked() -> None:
    logs.configure("info")
    assert logging.getLogger("hivemind").level == logging.WARNING


def test_hivemind_follows_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    logs.configure("debug")
    assert logging.getLogger("hivemind").level == logging.DEBUG
