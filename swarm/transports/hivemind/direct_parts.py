"""Parts of big records straight from their publisher: a bounded cache and one unary RPC per part.

A publisher keeps the parts of its recent records in memory (`PartCache`: dropped when the record
expires or beyond ``max_bytes``, oldest first) and serves them by digest over ``sapo-swarm/part/1``.
It also pushes the small signed parts index to a few peers (`swarm.transports.hivemind.push`); a receiver that
verified the index asks the pusher for each part here, checks every part's sha256 against the index
and falls back to the DHT copy (`chunks.fetch_part_values`) for any part that did not come back right.
Nothing the publisher sends is trusted: a part that does not hash to its name is refused and counted.

    direct = DirectParts(p2p, PartCache(clock), timeout=3.0, report=transport.rejection_log)
    await direct.start()                          # registers the rpc handler (HivemindTransport.start)
    direct.cache.keep({digest: part}, expiration) # publish, for each split record
    found = await direct.fetch(peer_id, digests)  # receiver: {digest: verified bytes}, missing ones left out

Request: a `dht_pb2.FindRequest` whose first key is the part's sha256 hex; response: a `FindResponse`
with one `FindResult` (FOUND_REGULAR with the bytes, or NOT_FOUND). One part per call keeps each
message under the daemon's 4 MiB unary limit (parts are at most 1 MiB).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Callable, Iterable, Mapping

from hivemind.p2p import P2P, P2PContext, PeerID
from hivemind.proto import dht_pb2

from protocol.parts import part_hash
from swarm.transports.chunks import gather_partial
from swarm.transports.rejections import RejectionSink

logger = logging.getLogger(__name__)

PART_PROTOCOL = "sapo-swarm/part/1"
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class PartCache:
    """digest -> (part, expiration), at most ``max_bytes`` in all; expired or oldest entries go first."""

    def __init__(self, clock: Callable[[], float], max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.clock, self.max_bytes = clock, max_bytes
        self._parts: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._parts)

    def keep(self, parts: Mapping[str, bytes], expiration: float) -> None:
        for digest, data in parts.items():
            if len(data) > self.max_bytes:
                continue
            self._drop(digest)
            self._parts[digest] = (data, expiration)
            self.bytes += len(data)
        self._evict()

    def get(self, digest: str) -> bytes | None:
        entry = self._parts.get(digest)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            self._drop(digest)
            return None
        return entry[0]

    def _drop(self, digest: str) -> None:
        entry = self._parts.pop(digest, None)
        if entry is not None:
            self.bytes -= len(entry[0])

    def _evict(self) -> None:
        now = self.clock()
        while self._parts:
            digest, (_, expiration) = next(iter(self._parts.items()))
            if self.bytes <= self.max_bytes and expiration > now:
                return
            self._drop(digest)


class DirectParts:
    """Serves this node's cached parts and fetches peers' parts, at most ``max_in_flight`` calls at once."""

    def __init__(
        self,
        p2p: P2P,
        cache: PartCache,
        *,
        timeout: float,
        report: RejectionSink,
        max_in_flight: int = 4,
    ) -> None:
        self.p2p, self.cache, self.timeout, self.report = p2p, cache, timeout, report
        self._slots = asyncio.Semaphore(max_in_flight)
        self.served = self.fetched = self.fetched_bytes = self.forged = self.missed = 0
        """Parts served to peers; parts fetched and verified; their bytes; parts refused (wrong hash); not served."""

    async def start(self) -> None:
        await self.p2p.add_protobuf_handler(PART_PROTOCOL, self.rpc_part, dht_pb2.FindRequest)

    # ------------------------------------------------------------ serving

    async def rpc_part(self, request: dht_pb2.FindRequest, context: P2PContext) -> dht_pb2.FindResponse:
        """Called by hivemind when a peer asks for a part: its bytes if still cached, else NOT_FOUND."""
        data = None
        if request.keys:
            try:
                data = self.cache.get(request.keys[0].decode())
            except UnicodeDecodeError:
                data = None
        if data is None:
            return dht_pb2.FindResponse(results=[dht_pb2.FindResult(type=dht_pb2.NOT_FOUND)])
        self.served += 1
        return dht_pb2.FindResponse(results=[dht_pb2.FindResult(type=dht_pb2.FOUND_REGULAR, value=data)])

    # ------------------------------------------------------------ fetching

    async def fetch(self, source: str, digests: Iterable[str]) -> dict[str, bytes]:
        """Ask ``source`` (a libp2p peer id, base58) for each part; only parts whose sha256 matches come back."""
        unique = list(dict.fromkeys(digests))
        try:
            peer = PeerID.from_base58(source)
        except ValueError:
            return {}
        got = await gather_partial((self._fetch_one(peer, d) for d in unique), self.timeout)
        found: dict[str, bytes] = {}
        for digest, data in zip(unique, got):
            if data is None:
                self.missed += 1
            elif part_hash(data) != digest:
                self.forged += 1
                self.report("incomplete", f"served part does not hash to {digest[:12]}", signer=f"libp2p:{source}")
            else:
                found[digest] = data
                self.fetched += 1
                self.fetched_bytes += len(data)
        return found

    async def _fetch_one(self, source: PeerID, digest: str) -> bytes | None:
        async with self._slots:
            response = await self.p2p.call_protobuf_handler(
                source, PART_PROTOCOL, dht_pb2.FindRequest(keys=[digest.encode()]), dht_pb2.FindResponse
            )
        if not response.results or response.results[0].type != dht_pb2.FOUND_REGULAR:
            return None
        return response.results[0].value


__all__ = ["DEFAULT_CACHE_BYTES", "PART_PROTOCOL", "DirectParts", "PartCache"]
