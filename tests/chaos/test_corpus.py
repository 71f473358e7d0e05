"""Replay the seed corpus (`tests/chaos/corpus/`) through every parser a peer's bytes reach.

Each record goes through: the store-side DHT check, `RecordVerifier.verify` (its verdict must be the
manifest's), `decode` of the raw bytes and of the envelope body, and TaskRef -> rebuild for every group
of a decoded batch. Only the expected verdicts may come out (`ProtocolError`, `TaskError`, a refusal),
never another exception, and each record takes under 1 s. Regenerate with `tests/chaos/make_corpus.py`.
"""

from __future__ import annotations

import json
import mmap
import time
from pathlib import Path

import msgpack
import pytest
from hivemind.dht.validation import DHTRecord

from node.config import TasksConfig
from node.tasks import TaskError, TaskSource
from protocol import RecordVerifier
from protocol.codec import decode
from protocol.envelope import open_envelope
from protocol.errors import ProtocolError
from protocol.messages import RolloutBatch
from swarm.transports.dht_validator import SignedRecordValidator
from tests.chaos.hostile import CAP

CORPUS = Path(__file__).with_name("corpus")
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
SETTINGS = MANIFEST["verifier"]


def verifier() -> RecordVerifier:
    return RecordVerifier(SETTINGS["swarm_id"], SETTINGS["secret"].encode(), frozenset(SETTINGS["allowed"]),
                          window_clock=lambda: SETTINGS["window"], max_window_age=SETTINGS["max_window_age"],
                          max_window_ahead=SETTINGS["max_window_ahead"])


def replay(data: bytes, subkey: str, window: int, tasks: TaskSource) -> tuple[str, bool]:
    """(verifier reason or "", store-side ok) after every parser saw `data`; raises only on a real bug."""
    stored_ok = SignedRecordValidator(SETTINGS["secret"].encode()).validate(
        DHTRecord(b"k", msgpack.packb(subkey), msgpack.packb(data, use_bin_type=True), 0.0))
    verdict = verifier().verify(data, subkey=subkey, window=window)
    for blob in (data, *_body(data)):
        try:
            msg = decode(blob)
        except ProtocolError:
            continue
        for group in msg.groups if isinstance(msg, RolloutBatch) else ():
            try:
                tasks.rebuild(group.task)
            except TaskError:
                pass
    return ("" if verdict.accepted else verdict.reason), stored_ok


def _body(data: bytes) -> tuple[bytes, ...]:
    try:
        return (open_envelope(data).body,)
    except ProtocolError:
        return ()


@pytest.fixture(scope="module")
def tasks() -> TaskSource:
    return TaskSource(TasksConfig())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(MANIFEST["records"]))
def test_corpus_record_gets_its_verdict_fast(name: str, tasks: TaskSource) -> None:
    entry = MANIFEST["records"][name]
    t0 = time.perf_counter()
    reason, _ = replay((CORPUS / name).read_bytes(), entry["subkey"], entry["window"], tasks)
    assert time.perf_counter() - t0 < 1.0, f"{name} took {time.perf_counter() - t0:.2f} s"
    assert reason == entry["reason"], (name, reason)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("factor", [2, 100])
def test_oversize_record_refused_before_parsing(factor: int) -> None:
    """2x and 100x the record cap: refused on length alone (an untouched anonymous mapping, so 800 MiB cost nothing)."""
    with mmap.mmap(-1, factor * CAP) as pad:
        t0 = time.perf_counter()
        verdict = verifier().verify(memoryview(pad), subkey="x", window=SETTINGS["window"])  # type: ignore[arg-type]
        assert time.perf_counter() - t0 < 1.0
    assert verdict.reason == "too_large", verdict
