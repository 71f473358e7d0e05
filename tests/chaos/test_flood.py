"""The T6 flood stream (`tests.chaos.flood`): what it builds and how it paces, against a fake transport."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from types import SimpleNamespace

from hivemind.p2p.p2p_daemon_bindings.control import MAX_UNARY_PAYLOAD_SIZE

from protocol import Identity, RecordVerifier, seal
from protocol.keys import subkey_slot
from swarm.transports.config import TransportConfig
from tests.chaos.flood import Flood, FloodPlan, big_batch, junk, small_batch

ME = Identity.from_seed(b"flood-test")
SECRET = b"s"


def verifier() -> RecordVerifier:
    return RecordVerifier("t", SECRET, frozenset({ME.peer_id}), window_clock=lambda: 5, max_window_age=3)


def test_small_and_big_records_are_valid_and_big_fits_one_push():
    v = verifier()
    small = seal(small_batch(ME, "t", 5, "a"), ME, SECRET)
    big = seal(big_batch(ME, "t", 5, "b", 1_900_000, random.Random(0)), ME, SECRET)
    assert v.verify(small, subkey=ME.peer_id, window=5).accepted
    assert v.verify(big, subkey=ME.peer_id, window=5).accepted
    assert 1_800_000 < len(big) < MAX_UNARY_PAYLOAD_SIZE - 4096


def test_junk_is_refused():
    v, rng = verifier(), random.Random(1)
    example = seal(small_batch(ME, "t", 5, "a"), ME, SECRET)
    assert not any(v.verify(junk(rng, example), subkey=ME.peer_id, window=5).accepted for _ in range(20))


class FakeTransport:
    """Just what `Flood` touches: two admitted peers, a store that acknowledges, a push that answers."""

    def __init__(self) -> None:
        self.config = TransportConfig(swarm_id="t", num_shards=2, request_timeout_s=1.0)
        self.identity, self.secret = ME, SECRET
        self.store = SimpleNamespace(time=lambda: 1000.0)
        self.stored: list[str] = []
        self.pushed: Counter = Counter()
        peers = [SimpleNamespace(peer_id=f"sw{i}", addresses=(f"/ip4/127.0.0.1/tcp/1/p2p/{pid}",))
                 for i, pid in enumerate(["QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"])]
        self.node = SimpleNamespace(store_many=self._store_many, p2p=SimpleNamespace(call_protobuf_handler=self._push))
        self._peers = peers

    def window(self) -> int:
        return 5

    def peers(self):
        return self._peers

    async def collect(self, max_batches: int):
        return []

    async def _store_many(self, keys, values, expiration, subkeys):
        self.stored += subkeys
        return {k: True for k in keys}

    async def _push(self, pid, protocol, request, response_type):
        self.pushed[pid.to_base58()] += 1
        return response_type(store_ok=[True])


def test_flood_sends_every_record_to_the_store_and_each_peer_with_fresh_slots():
    async def scenario():
        t = FakeTransport()
        flood = Flood(t, FloodPlan(rate=200, big=0.0, tick_s=0.01, max_inflight=1000))
        flood.start()
        await asyncio.sleep(0.3)
        return t, await flood.stop()

    t, report = asyncio.run(scenario())
    assert report["sent"] >= 20 and report["behind"] == 0
    assert len(t.stored) == report["sent"] and sorted(subkey_slot(sk) for sk in t.stored) == list(range(report["sent"]))
    assert sorted(report["pushed"].values()) == [report["sent"]] * 2


def test_flood_skips_what_it_cannot_send_instead_of_queueing():
    async def scenario():
        t = FakeTransport()
        flood = Flood(t, FloodPlan(rate=1000, big=0.0, tick_s=0.01, max_inflight=3))  # one record (store + 2 pushes) at a time
        flood.start()
        await asyncio.sleep(0.2)
        return await flood.stop()

    report = asyncio.run(scenario())
    assert report["behind"] > 0 and report["sent"] + report["behind"] >= 100


def test_junk_under_fresh_slots_is_logged_once_per_peer():
    """A flood of junk under slot subkeys 0, 1, 2, ... must not fill the log-once table (one entry per peer)."""
    from swarm.transports.base import TransportStats
    from swarm.transports.inbox import Inbox

    inbox = Inbox(verifier(), TransportStats(), own_peer_id="me")
    for slot in range(1000):
        inbox.offer(b"junk", subkey=f"{ME.peer_id}.{slot}", window=5)
    assert inbox.stats.rejections["malformed"] == 1000 and len(inbox.reject._logged) == 1  # type: ignore[attr-defined]
