"""Peer-controlled text in logs and terminals: escaped (`protocol.printable`) and bounded in volume
(`swarm.transports.rejections`), with hostile ids and subkeys: ESC codes, newlines, 10 kB strings."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import Counter

import pytest
from rich.console import Console

from protocol import Identity, PeerAnnouncement, seal
from protocol.keys import record_key, record_subkey, shard_of
from protocol.printable import peer_text
from swarm.status import peers_table
from swarm.transports import MemoryHub, MemoryTransport, TransportConfig
from swarm.transports.rejections import RejectionLog
from tests.unit.protocol_factories import make_batch

ESC = "\x1b"
FORGED = "\nround 999 reward 1.000 external 8/8 peers 99"
HOSTILE = [
    f"sw{ESC}[2J{ESC}[H" + FORGED,
    "x" * 10_000,
    f"{ESC}]0;owned\x07\r\u202edesrever" + "\\" * 50,
    ("\x00\x85\u2028" + FORGED) * 500,
]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def printable_line(line: str, limit: int) -> bool:
    return len(line) <= limit and line.isprintable() and ESC not in line


@pytest.mark.parametrize("text", HOSTILE)
def test_peer_text_is_one_printable_bounded_line(text: str) -> None:
    for limit in (8, 80, 200):
        shown = peer_text(text, limit)
        assert printable_line(shown, limit), shown
        assert "round 999" not in shown.split("\\n")[0][:2]  # the forged line cannot start a line of its own
    assert peer_text("plain id") == "'plain id'" and peer_text("plain id", quote=False) == "plain id"
    assert peer_text("x" * 100, 20).endswith("'...") and len(peer_text("x" * 100, 20)) == 20


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "swarm.transports.rejections"]


def test_fresh_claimed_ids_share_one_unauthenticated_line(caplog: pytest.LogCaptureFixture) -> None:
    counts: Counter[str] = Counter()
    log = RejectionLog(counts, clock=Clock())
    with caplog.at_level(logging.WARNING, logger="swarm.transports.rejections"):
        for i in range(2_000):
            log("bad_signature", f"detail {HOSTILE[i % 4]}", claimed=f"sw{i}{HOSTILE[i % 4]}")
    assert counts == Counter({"bad_signature": 2_000})  # counts stay exact
    lines = log_lines(caplog)
    assert len(lines) == 1 and "unauthenticated" in lines[0]
    assert all(printable_line(line, 500) for line in lines), lines


def test_fresh_signers_are_bounded_in_total_and_summarized(caplog: pytest.LogCaptureFixture) -> None:
    clock, counts = Clock(), Counter()
    log = RejectionLog(counts, lines_per_minute=20, burst=20, clock=clock)
    with caplog.at_level(logging.WARNING, logger="swarm.transports.rejections"):
        for second in range(75):  # 2,000 authenticated refusals, each from a fresh verified signer, over 75 s
            clock.t = float(second)
            for i in range(27):
                log("stale_window", "window 3", signer=f"sw{second}-{i}{HOSTILE[i % 4]}")
        clock.t = 200.0
        log.summarize()
    assert counts["stale_window"] == 75 * 27
    lines = log_lines(caplog)
    rejected = [line for line in lines if line.startswith("rejected")]
    summaries = [line for line in lines if line.startswith("suppressed")]
    assert len(rejected) <= 20 + 20 * 75 / 60 + 1  # burst + rate
    assert 2 <= len(summaries) <= 3, summaries
    suppressed = sum(int(re.match(r"suppressed (\d+)", s).group(1)) for s in summaries)
    assert suppressed + len(rejected) == 75 * 27  # every refusal is either a line or in a summary
    assert "stale_window" in summaries[0]
    assert all(printable_line(line, 500) for line in lines), lines


def test_one_line_per_signer_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    log = RejectionLog(Counter(), clock=Clock())
    with caplog.at_level(logging.WARNING, logger="swarm.transports.rejections"):
        for _ in range(50):
            log("over_quota", "window 1", signer="swA")
            log("duplicate", "batch", signer="swA")
            log("over_quota", "window 1", signer="swB")
    assert len(log_lines(caplog)) == 3


def test_hostile_records_through_a_transport_keep_its_log_bounded_and_escaped(caplog: pytest.LogCaptureFixture) -> None:
    """Records under hostile subkeys (ESC codes, newlines, 10 kB) and from fresh signers, read and pushed."""
    clock = Clock()
    clock.t = 1.7e9
    hub = MemoryHub(clock)
    cfg = TransportConfig(type="memory", swarm_id="t", num_shards=1, window_seconds=2.0, inbox_size=4)
    node = MemoryTransport(cfg, Identity.from_seed(b"victim"), hub)
    w = node.window()
    key = record_key("t", w, 0)
    with caplog.at_level(logging.DEBUG, logger="swarm.transports"):
        for i in range(400):
            fresh = Identity.generate()
            stale = seal(make_batch(fresh, swarm_id="t", window=w - 10), fresh)  # verified, from a signer never seen: stale_window
            hub.tamper(key, record_subkey(fresh.peer_id, 0), stale, clock.t + 30)
            hub.tamper(key, f"{fresh.peer_id}.{HOSTILE[i % 4]}", b"junk" + HOSTILE[i % 4].encode(), clock.t + 30)
            node.receiver.accept_pushed(key + HOSTILE[i % 4], w, HOSTILE[i % 4], stale, clock.t + 30)
            if i % 50 == 49:
                asyncio.run(node.collect(400))
    assert node.stats.rejections.total() >= 400 * 2, node.stats.rejections
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(warnings) <= 21, warnings
    everything = [r.getMessage() for r in caplog.records]
    assert all(printable_line(line, 600) for line in everything), [x for x in everything if not printable_line(x, 600)][:3]
    assert shard_of(node.peer_id, 1) == 0


def test_status_table_shows_peer_strings_escaped() -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    hostile = PeerAnnouncement("sw1", f"[bold red]m{ESC}[2J" + FORGED, "h" * 10_000, "0", ("/ip4/1.2.3.4/tcp/1" + FORGED,), 1.7e9)
    console.print(peers_table([hostile]))
    out = console.file.getvalue()
    assert ESC not in out and "[bold red]" in out  # shown as text, not applied as markup
    assert not any(line.lstrip("│ ").startswith("round 999") for line in out.splitlines())
    assert max(map(len, out.splitlines())) <= 200
