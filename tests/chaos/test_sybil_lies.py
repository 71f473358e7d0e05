"""The lies T7 sybils tell (`tests.chaos.sybil_lies`), checked against the honest checks without a network:
every forgery is refused by the store-side DHT validator, every stale copy by the receiver's verifier."""

from __future__ import annotations

from collections import Counter

import pytest
from hivemind.dht.routing import DHTID
from hivemind.dht.validation import DHTRecord
from hivemind.utils import MSGPackSerializer, get_dht_time

from protocol import Identity, RecordVerifier, seal
from protocol.keys import record_key, record_subkey, window_of
from swarm.transports.hivemind.dht_validator import SignedRecordValidator
from tests.chaos.hostile import valid_batch
from tests.chaos.sybil_lies import FORGERIES, Crew, KeyBook, LyingStorage

SWARM, SECRET, WINDOW_S = "t-sybil", b"secret", 2.0
HONEST = [Identity.from_seed(f"sybil-test-h{i}".encode()) for i in range(3)]


def now_window() -> int:
    return window_of(get_dht_time(), WINDOW_S)


def given_records(storage: LyingStorage, window: int) -> DHTID:
    """Honest peers store one record each in shard 0 of `window`; returns that key's id."""
    key = record_key(SWARM, window, 0)
    for ident in HONEST:
        batch = valid_batch(ident, SWARM, window, f"b{window}")
        storage.store_subkey(DHTID.generate(source=key), record_subkey(ident.peer_id, 0),
                             MSGPackSerializer.dumps(seal(batch, ident, SECRET)), get_dht_time() + 6)
    return DHTID.generate(source=key)


def entries(answer) -> list[tuple[str, bytes, float]]:
    return [(sk, item.value, item.expiration_time) for sk, item in answer.value.items()]


@pytest.fixture
def crew() -> Crew:
    return Crew(KeyBook(SWARM, WINDOW_S, num_shards=1), mode="honest")


def test_censor_keeps_nothing_and_turn_drops_what_was_held(crew: Crew) -> None:
    storage = LyingStorage(crew, Identity.generate())
    key_id = given_records(storage, now_window())
    assert len(storage.get(key_id).value) == len(HONEST)
    assert crew.turn("censor") == "honest"
    assert storage.get(key_id) is None and len(storage.real) == 0
    assert storage.store_subkey(key_id, "x.0", b"\x01", get_dht_time() + 5) is True
    assert len(storage.real) == 0
    with pytest.raises(ValueError):
        crew.turn("sulk")


def test_every_forgery_is_refused_by_the_dht_validator(crew: Crew) -> None:
    storage = LyingStorage(crew, Identity.generate())
    window = now_window()
    key_id = given_records(storage, window)
    crew.turn("forge")
    reasons: Counter = Counter()
    validator = SignedRecordValidator(SECRET, report=lambda reason, detail, **who: reasons.update([reason]))
    for _ in FORGERIES:
        answer = storage.get(key_id)
        assert answer.expiration_time > get_dht_time() + 60, "a lie must outlive the honest copies"
        for subkey, value, expiration in entries(answer):
            record = DHTRecord(key_id.to_bytes(), MSGPackSerializer.dumps(subkey), value, expiration)
            assert not validator.validate(record), subkey
    assert set(reasons) <= {"subkey_mismatch", "wrong_secret", "no_signature", "bad_signature"}, reasons
    assert {"subkey_mismatch", "wrong_secret", "no_signature"} <= set(reasons), reasons


def test_stale_copies_pass_the_dht_but_not_the_receiver(crew: Crew) -> None:
    storage = LyingStorage(crew, Identity.generate())
    old = now_window() - 2
    given_records(storage, old)
    current = given_records(storage, old + 2)
    crew.turn("stale")
    answer = storage.get(current)
    validator = SignedRecordValidator(SECRET)
    verifier = RecordVerifier(SWARM, SECRET, window_clock=now_window, max_window_age=3)
    verdicts = Counter()
    for subkey, value, expiration in entries(answer):
        assert expiration > get_dht_time() + 60
        assert validator.validate(DHTRecord(current.to_bytes(), MSGPackSerializer.dumps(subkey), value, expiration))
        verdicts[verifier.verify(MSGPackSerializer.loads(value), subkey=subkey, window=old + 2).reason] += 1
    assert verdicts == Counter({"wrong_window": len(HONEST)}), verdicts
