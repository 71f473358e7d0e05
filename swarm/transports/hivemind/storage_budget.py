"""A byte budget for what this node holds as a DHT replica: values past it are refused and counted.

hivemind bounds a replica's storage by expiration only. Anyone who can reach the node may store values
under any key, and a content-addressed part needs no signature at all, only bytes that hash to its
subkey. Our validator caps how far ahead a value may expire (`SignedRecordValidator`), so a replica
holds at most (incoming bytes/s) x (that horizon): without a budget, as much as peers care to send.

`BudgetedStorage` is hivemind's `DHTLocalStorage` with a byte cap on the values it holds; a store
that would pass the cap is refused (False, as hivemind answers a value it would not take) and reported
as "storage_full". `budget_dht_storage` puts one in place of a protocol's storage and cache, which
`rpc_store` and `DHTNode` look up on every call.

    budget_dht_storage(dht_node.protocol, max_bytes=256 * 2**20, report=transport.rejection_log)
"""

from __future__ import annotations

import time
from typing import Any

from hivemind.dht.routing import DHTID
from hivemind.dht.storage import DHTLocalStorage, DictionaryDHTValue
from hivemind.utils.timed_storage import DHTExpiration

from protocol.keys import subkey_owner
from swarm.transports.rejections import RejectionSink

Report = RejectionSink


class BudgetedStorage(DHTLocalStorage):
    """`DHTLocalStorage` holding at most ``max_bytes`` of values (expired ones do not count)."""

    RECOUNT_S = 1.0
    """Longest the running total goes between exact counts (it only over-counts: expiries and overwrites)."""

    def __init__(self, max_bytes: int, report: Report | None = None, maxsize: int | None = None) -> None:
        super().__init__(maxsize=maxsize)
        self.max_bytes, self.report = max_bytes, report
        self.refused = 0
        self._held, self._counted_at = 0, float("-inf")

    def held_bytes(self) -> int:
        """Bytes of the unexpired values held now (a dictionary value counts its subkeys' values)."""
        total = 0
        for _, item in self.items():
            if isinstance(item.value, DictionaryDHTValue):
                total += sum(len(sub.value) for _, sub in item.value.items())
            else:
                total += len(item.value)
        return total

    def store(self, key: DHTID, value: Any, expiration_time: DHTExpiration, subkey: Any = None) -> bool:
        if subkey is None and not isinstance(value, DictionaryDHTValue) and not self._fits(len(value), "?"):
            return False
        return super().store(key, value, expiration_time, subkey)  # a subkey goes through store_subkey

    def store_subkey(self, key: DHTID, subkey: Any, value: bytes, expiration_time: DHTExpiration) -> bool:
        owner = subkey_owner(subkey) if isinstance(subkey, str) and len(subkey) != 64 else "?"  # a part names no owner
        return self._fits(len(value), owner) and super().store_subkey(key, subkey, value, expiration_time)

    def _fits(self, size: int, owner: str) -> bool:
        """Whether ``size`` more bytes fit. A refusal rests on an exact count at most 0.1 s old plus what was
        stored since (under a flood, one count per 0.1 s); otherwise the total is counted again every second."""
        now = time.monotonic()
        stale = now - self._counted_at > (self.RECOUNT_S if self._held + size <= self.max_bytes else 0.1)
        if stale:
            self._held, self._counted_at = self.held_bytes(), now
        if self._held + size <= self.max_bytes:
            self._held += size
            return True
        self.refused += 1
        if self.report is not None:
            self.report("storage_full", f"{size} more bytes; this replica holds {self._held} of {self.max_bytes}", claimed=owner)
        return False


def budget_dht_storage(protocol: Any, max_bytes: int, report: Report | None = None) -> BudgetedStorage:
    """Replace ``protocol.storage`` by a `BudgetedStorage` of ``max_bytes`` holding what it held, and give
    ``protocol.cache`` the same budget; returns the new storage."""
    for name in ("storage", "cache"):
        old = getattr(protocol, name)
        budgeted = BudgetedStorage(max_bytes, report, maxsize=None if old.maxsize == float("inf") else old.maxsize)
        for key, item in old.items():
            budgeted.store(key, item.value, item.expiration_time)
        setattr(protocol, name, budgeted)
    return protocol.storage
