"""Replay the seed corpus (`tests/chaos/corpus/`) through every parser a peer's bytes reach.

Each record goes through: the store-side DHT check, `RecordVerifier.verify` (its verdict must be the
manifest's), `decode` of the raw bytes and of the envelope body (as sent and decrypted), and TaskRef -> rebuild for every group
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
from swarm.transports.hivemind.dht_validator import SignedRecordValidator
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
    """The envelope body as sent and, when it decrypts under the corpus secret, its plaintext."""
    try:
        envelope = open_envelope(data)
    except ProtocolError:
        return ()
    try:
        return (envelope.body, envelope.plaintext(SETTINGS["secret"].encode()))
    except ProtocolError:
        return (envelope.body,)


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


# ---------------------------------------------------------------- the store-side check's own refusals

def _store(validator: SignedRecordValidator, subkey: str, data: bytes) -> bool:
    return validator.validate(DHTRecord(b"k", msgpack.packb(subkey), msgpack.packb(data, use_bin_type=True), 0.0))


def _store_side(**kw) -> tuple[SignedRecordValidator, list[str]]:
    reported: list[str] = []
    validator = SignedRecordValidator(SETTINGS["secret"].encode(), report=lambda reason, detail, **who: reported.append(reason), **kw)
    return validator, reported


def _valid_record() -> tuple[bytes, str]:
    entry = MANIFEST["records"]["valid_batch.bin"]
    return (CORPUS / "valid_batch.bin").read_bytes(), entry["subkey"]


def test_store_side_refuses_slots_at_or_past_the_per_peer_cap() -> None:
    data, subkey = _valid_record()
    owner = subkey.partition(".")[0]
    validator, reported = _store_side(max_slots=4)
    assert [_store(validator, f"{owner}.{slot}", data) for slot in (0, 3, 4, 10)] == [True, True, False, False]
    assert reported == ["over_quota", "over_quota"]
    assert not _store(validator, f"{owner}.4", data) and len(reported) == 2  # refused again, reported once
    assert not _store(validator, f"{owner}.x4", data) and reported[-1] == "schema"  # no dodging the cap by name
    assert _store(SignedRecordValidator(SETTINGS["secret"].encode()), f"{owner}.10", data)  # no cap given: none applied


def test_store_side_refuses_a_record_stored_whole_over_the_inline_cap() -> None:
    """A record over 64 KiB travels as parts plus an index; stored whole under a record key, every read of
    that key would carry it (T6: admitted keys storing 1.9 MB records made the DHT's answers megabytes)."""
    import random

    from protocol.envelope import seal
    from protocol.limits import DEFAULT_LIMITS
    from tests.chaos.flood import big_batch
    from tests.chaos.make_corpus import ATTACKER, VERIFIER, WINDOW

    def sealed(chars: int) -> bytes:
        batch = big_batch(ATTACKER, VERIFIER["swarm_id"], WINDOW, f"b{chars}", chars, random.Random(0))
        return seal(batch, ATTACKER, SETTINGS["secret"].encode())

    small, whole = sealed(30_000), sealed(100_000)
    assert len(small) < DEFAULT_LIMITS.max_inline_record_bytes < len(whole) < DEFAULT_LIMITS.max_record_bytes
    assert verifier().verify(whole, subkey=f"{ATTACKER.peer_id}.0", window=WINDOW).accepted  # valid once joined from parts
    validator, reported = _store_side()
    assert _store(validator, f"{ATTACKER.peer_id}.0", small) and reported == []
    assert not _store(validator, f"{ATTACKER.peer_id}.1", whole) and reported == ["too_large"]


def test_store_side_refuses_signers_off_the_allow_list() -> None:
    data, subkey = _valid_record()
    validator, reported = _store_side(allowed_peers=frozenset({"sw-someone-else"}))
    assert not _store(validator, subkey, data) and reported == ["not_allowed"]
    validator, reported = _store_side(allowed_peers=frozenset(SETTINGS["allowed"]))
    assert _store(validator, subkey, data) and reported == []


def test_store_side_refuses_clear_bodies_in_a_private_swarm() -> None:
    from protocol.envelope import seal
    from tests.chaos.make_corpus import ATTACKER, VERIFIER, WINDOW
    from tests.chaos.hostile import valid_batch

    from protocol.envelope import swarm_tag

    clear = seal(valid_batch(ATTACKER, VERIFIER["swarm_id"], WINDOW, "clear"), ATTACKER)
    record = msgpack.unpackb(clear, raw=False)
    record["tag"] = swarm_tag(SETTINGS["secret"].encode(), ATTACKER.public_key, record["body"])
    tagged_clear = msgpack.packb(record, use_bin_type=True)  # what a protocol 1.0 insider writes
    validator, reported = _store_side()
    assert not _store(validator, f"{ATTACKER.peer_id}.0", clear) and reported == ["wrong_secret"]  # untagged
    assert not _store(validator, f"{ATTACKER.peer_id}.1", tagged_clear) and reported[-1] == "not_encrypted"
    assert verifier().verify(tagged_clear, window=WINDOW).reason == "not_encrypted"
    assert _store(SignedRecordValidator(None), f"{ATTACKER.peer_id}.0", clear)  # public swarm: as before


def test_store_side_refuses_records_that_expire_beyond_a_skewed_clock() -> None:
    """A node minutes ahead would plant records that wait in the DHT for their window (T4 +262 s, seen in T7)."""
    data, subkey = _valid_record()
    now = 1_000_000.0
    validator, reported = _store_side(clock=lambda: now, max_expiration_ahead_s=68.0)

    def store(expiration: float) -> bool:
        return validator.validate(DHTRecord(b"k", msgpack.packb(subkey), msgpack.packb(data, use_bin_type=True), expiration))

    assert store(now + 6.0) and store(now + 68.0)  # a record published now, and one from a clock within tolerance
    assert not store(now + 262.0 + 6.0) and reported == ["future_window"]
    assert store(now + 6.0)  # the same bytes with an honest expiration: the cache does not carry the refusal
