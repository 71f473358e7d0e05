"""Records over the part threshold: store as parts plus a signed index, and put them back together.

Parts live under ``<record key>/part/<sha256>`` with the sha256 hex as subkey, so a storing peer can
check that a part's content matches its name (`swarm.transports.hivemind.dht_validator`) and no peer can
overwrite someone else's part. The index sits under the sender's own subkey like a small batch.

    sealed (3 MiB) ──► parts p0 p1 p2  (each stored under key/part/<sha(pi)>, subkey sha(pi))
                  └──► PartsIndex(hashes) sealed, stored under key, subkey = peer id
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Iterable, Protocol, TypeVar

from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.messages import RolloutBatch
from protocol.parts import MAX_PARTS, PartsIndex, join_parts, part_hash, seal_index, split_record

logger = logging.getLogger(__name__)

T = TypeVar("T")
Records = dict[str, tuple[bytes, float]]
"""subkey -> (value, expiration) of one key; empty when the key was not found."""


class RecordStore(Protocol):
    """What the sharded transport needs from a key-value backend (the DHT or the in-memory hub)."""

    def time(self) -> float:
        """The backend's clock for expirations (DHT time)."""

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        """Store one value under (key, subkey); False if no replica accepted it."""

    async def get(self, key: str, latest: bool = True) -> Records:
        """All live subkeys of ``key``; empty on a miss, a timeout or an unreachable swarm."""


class EmptyStore:
    """A `RecordStore` that holds nothing and stores nothing: a backend's store before it started."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock

    def time(self) -> float:
        return self.clock()

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        return False

    async def get(self, key: str, latest: bool = True) -> Records:
        return {}


def part_key(key: str, digest: str) -> str:
    return f"{key}/part/{digest}"


async def gather_partial(aws: Iterable[Awaitable[T]], timeout: float) -> list[T | None]:
    """Await all, in order; whatever is unfinished at ``timeout`` or failed is None (never raises)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, timeout=timeout)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    results: list[T | None] = []
    for task in tasks:
        if not task.done() or task.cancelled():
            results.append(None)
        elif task.exception() is not None:
            logger.debug("a store/get call failed", exc_info=task.exception())
            results.append(None)
        else:
            results.append(task.result())
    return results


async def store_parts(
    store: RecordStore,
    key: str,
    sealed: bytes,
    batch: RolloutBatch,
    identity: Identity,
    *,
    part_bytes: int,
    expiration: float,
    swarm_secret: bytes | None,
    timeout: float,
    keep: Callable[[dict[str, bytes], float], None] | None = None,
) -> tuple[bytes, int, bool]:
    """Store the parts of ``sealed``, then return (sealed index, number of parts, all parts stored).
    ``keep(parts by digest, expiration)``: also hand them to the publisher's `direct_parts.PartCache`."""
    parts = split_record(sealed, max(part_bytes, -(-len(sealed) // MAX_PARTS)))  # receivers read at most MAX_PARTS
    digests = [part_hash(p) for p in parts]
    unique = dict(zip(digests, parts))  # identical parts share one record
    if keep is not None:
        keep(unique, expiration)
    stored = await gather_partial((store.store(part_key(key, d), d, p, expiration) for d, p in unique.items()), timeout)
    index = PartsIndex(batch.swarm_id, batch.sender, batch.window, batch.batch_id, len(sealed), tuple(digests))
    return seal_index(index, identity, swarm_secret), len(parts), all(bool(s) for s in stored)


async def fetch_parts(store: RecordStore, key: str, index: PartsIndex, timeout: float) -> bytes:
    """Fetch and join the parts of ``index``; `ProtocolError("incomplete")` if any is missing or corrupt."""
    return join_parts(index, await fetch_part_values(store, key, index.parts, timeout))


async def fetch_part_values(store: RecordStore, key: str, digests: Iterable[str], timeout: float) -> dict[str, bytes]:
    """digest -> part as found in the store (unchecked: `join_parts` checks hashes); missing ones left out."""
    unique = list(dict.fromkeys(digests))  # identical parts share one DHT record: fetch it once
    got = await gather_partial((store.get(part_key(key, d), latest=False) for d in unique), timeout)
    found: dict[str, bytes] = {}
    for digest, records in zip(unique, got):
        value = (records or {}).get(digest)
        if value is not None:
            found[digest] = value[0]
    return found


__all__ = ["EmptyStore", "ProtocolError", "RecordStore", "Records", "fetch_part_values", "fetch_parts", "gather_partial", "part_key", "store_parts"]
