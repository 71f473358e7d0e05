"""Versions on the wire: what announcements carry, what a newer minor may add, what another major gets.

A newer minor with unknown optional fields must still be read (through the whole verify path, as a
receiver does); another major is refused as ``version``, counted, and reported once with what to install.
"""

from __future__ import annotations

import asyncio
import logging

import msgpack

from protocol import PROTOCOL_VERSION, Identity, RecordVerifier, encode
from protocol.envelope import seal_bytes
from protocol.versions import clean_version, package_version
from swarm.transports import MemoryHub, MemoryTransport, TransportConfig
from swarm.transports.base import TransportStats
from swarm.transports.inbox import Inbox
from tests.unit.protocol_factories import make_batch

ALICE = Identity.from_seed(b"alice")
NEWER_MINOR = (PROTOCOL_VERSION[0], PROTOCOL_VERSION[1] + 5)
NEWER_MAJOR = (PROTOCOL_VERSION[0] + 1, 0)


def _future_body(version: tuple[int, int]) -> bytes:
    """A batch as a future release might encode it: its version, plus fields this release has never seen."""
    raw = msgpack.unpackb(encode(make_batch(ALICE)), raw=False)
    raw["v"] = list(version)
    raw["b"]["provenance"] = {"policy_version": 17, "tags": ["x"]}
    raw["b"]["groups"][0]["task"]["difficulty"] = 0.3
    return msgpack.packb(raw, use_bin_type=True)


def _with_envelope(data: bytes, **fields) -> bytes:
    record = msgpack.unpackb(data, raw=False)
    record.update(fields)
    return msgpack.packb(record, use_bin_type=True)


def test_a_newer_minor_with_unknown_optional_fields_is_accepted() -> None:
    sealed = seal_bytes(_future_body(NEWER_MINOR), ALICE)
    sealed = _with_envelope(sealed, v=list(NEWER_MINOR), route_hint="later")  # and an unknown envelope field
    verdict = RecordVerifier(swarm_id="test").verify(sealed)
    assert verdict.accepted, verdict
    assert verdict.message.version == NEWER_MINOR
    assert verdict.message.groups == make_batch(ALICE).groups  # the fields we know are read as they were


def test_another_major_is_refused_with_the_release_to_install() -> None:
    sealed = _with_envelope(seal_bytes(_future_body(NEWER_MAJOR), ALICE), v=list(NEWER_MAJOR), sw="0.9.2")
    verdict = RecordVerifier(swarm_id="test").verify(sealed)
    assert not verdict.accepted and verdict.reason == "version"
    assert "sapo-swarm>=0.9.2" in verdict.detail and f"protocol {NEWER_MAJOR[0]}.0" in verdict.detail


def test_a_hostile_version_string_is_never_repeated() -> None:
    sealed = _with_envelope(seal_bytes(_future_body(NEWER_MAJOR), ALICE), v=list(NEWER_MAJOR), sw="\x1b[2J9.9 rm -rf")
    verdict = RecordVerifier(swarm_id="test").verify(sealed)
    assert verdict.reason == "version" and "\x1b" not in verdict.detail and "rm -rf" not in verdict.detail
    assert "speaks protocol" in verdict.detail  # the generic hint instead
    assert clean_version("1.2.3rc1") == "1.2.3rc1" and clean_version("1.2 3") is None and clean_version(7) is None


def test_other_major_records_are_counted_and_reported_once(caplog) -> None:
    inbox = Inbox(RecordVerifier(swarm_id="test"), TransportStats(), own_peer_id="me")
    peers = [Identity.from_seed(bytes([i])) for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="swarm.transports.rejections"):
        for peer in peers:
            for _ in range(2):
                sealed = _with_envelope(seal_bytes(_future_body(NEWER_MAJOR), peer), v=list(NEWER_MAJOR), sw="0.9.2")
                assert inbox.offer(sealed, subkey=peer.peer_id, window=1) is None
    assert inbox.stats.rejections["version"] == 6
    reports = [r for r in caplog.records if "upgrade" in r.getMessage()]
    assert len(reports) == 1 and "sapo-swarm>=0.9.2" in reports[0].getMessage()


def test_announcements_carry_the_package_and_protocol_versions() -> None:
    clock = lambda: 1_800_000_000.0  # noqa: E731
    hub = MemoryHub(clock)
    cfg = TransportConfig(type="memory", swarm_id="test", window_seconds=10)
    a, b = (MemoryTransport(cfg, Identity.from_seed(bytes([i])), hub) for i in range(2))

    async def exchange() -> None:
        await a.collect(0)  # a collect also announces
        await b.collect(0)

    asyncio.run(exchange())
    (seen,) = b.peers()
    assert seen.peer_id == a.peer_id
    assert seen.software_version == package_version() and seen.version == PROTOCOL_VERSION
    record = msgpack.unpackb(seal_bytes(b"x", ALICE), raw=False)
    assert record["sw"] == package_version() and record["v"] == list(PROTOCOL_VERSION)
