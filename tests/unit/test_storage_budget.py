"""`BudgetedStorage`: a DHT replica holds at most its byte budget, whoever stores and under whatever key."""

from __future__ import annotations

import hashlib
import time
from types import SimpleNamespace

from hivemind.dht.routing import DHTID
from hivemind.dht.storage import DHTLocalStorage
from hivemind.utils.timed_storage import get_dht_time

from swarm.transports.hivemind.storage_budget import BudgetedStorage, budget_dht_storage

KIB = 1024


def part(i: int, size: int = 40 * KIB) -> tuple[str, bytes]:
    """A content-addressed part: anyone may store one, no signature needed."""
    data = i.to_bytes(4, "big") * (size // 4)
    return hashlib.sha256(data).hexdigest(), data


def test_parts_under_any_key_stop_at_the_budget_and_are_counted() -> None:
    reports = []
    storage = BudgetedStorage(max_bytes=200 * KIB, report=lambda reason, detail, claimed: reports.append((claimed, reason, detail)))
    later = get_dht_time() + 60
    stored = [storage.store(DHTID.generate(f"spam-{i}".encode()), data, later, subkey=subkey)
              for i, (subkey, data) in enumerate(map(part, range(10)))]
    assert stored == [True] * 5 + [False] * 5
    assert storage.held_bytes() == 200 * KIB and storage.refused == 5
    assert [r[:2] for r in reports] == [("?", "storage_full")] * 5


def test_a_signed_record_is_reported_against_its_owner_and_a_plain_value_is_budgeted_too() -> None:
    reports = []
    storage = BudgetedStorage(max_bytes=64 * KIB, report=lambda reason, detail, claimed: reports.append((claimed, reason, detail)))
    key, later = DHTID.generate(b"window"), get_dht_time() + 60
    assert storage.store_subkey(key, "swpeer.0", b"x" * 60 * KIB, later)
    assert not storage.store_subkey(key, "swpeer.1", b"x" * 5 * KIB, later)
    assert not storage.store(DHTID.generate(b"plain"), b"y" * 5 * KIB, later)
    assert [r[0] for r in reports] == ["swpeer", "?"]


def test_expired_values_free_their_bytes() -> None:
    storage = BudgetedStorage(max_bytes=64 * KIB)
    soon = get_dht_time() + 0.05
    assert storage.store(DHTID.generate(b"a"), b"z" * 60 * KIB, soon, subkey="swpeer.0")
    assert not storage.store(DHTID.generate(b"b"), b"z" * 60 * KIB, get_dht_time() + 60, subkey="swpeer.1")
    time.sleep(0.15)  # past the expiry and the 0.1 s a refusal's count may be old
    assert storage.held_bytes() == 0
    assert storage.store(DHTID.generate(b"b"), b"z" * 60 * KIB, get_dht_time() + 60, subkey="swpeer.1")


def test_budget_dht_storage_keeps_what_the_protocol_held() -> None:
    old = DHTLocalStorage()
    key, later = DHTID.generate(b"k"), get_dht_time() + 60
    old.store(key, b"v" * KIB, later, subkey="swpeer.0")
    protocol = SimpleNamespace(storage=old, cache=DHTLocalStorage(maxsize=8))
    storage = budget_dht_storage(protocol, max_bytes=8 * KIB)
    assert protocol.storage is storage and isinstance(protocol.cache, BudgetedStorage)
    assert storage.held_bytes() == KIB and protocol.cache.maxsize == 8
    assert storage.get(key).value.get("swpeer.0").value == b"v" * KIB
