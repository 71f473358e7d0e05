"""MemoryTransport and the shared Inbox: round trip, dedup, caps, forgeries, expiry, parts, peers.

Time is injected (a mutable clock), never slept.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from protocol import Completion, Identity, RolloutBatch, RolloutGroup, TaskRef, seal
from protocol.keys import record_key, record_subkey, shard_of
from protocol.parts import MAX_PARTS
from swarm.transports import MemoryHub, MemoryTransport, NullTransport, TransportConfig, build_transport
from swarm.transports.chunks import part_key

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def make_batch(ident: Identity, window: int, batch_id: str = "b0", text_chars: int = 10, swarm: str = "testnet") -> RolloutBatch:
    group = RolloutGroup(TaskRef("chain_sum", {"n": 2}, 1, 0), "2 + 3 =", (Completion("5" * text_chars, 2, 1.0),))
    return RolloutBatch(swarm, ident.peer_id, "tiny", T0, window, batch_id, (group,))


@pytest.fixture
def swarm():
    clock = Clock()
    hub = MemoryHub(clock)
    cfg = TransportConfig(type="memory", window_seconds=10, num_shards=2, shards_per_collect=2, max_records_per_peer_per_window=2, part_threshold_bytes=2048, part_bytes=1024)
    nodes = [MemoryTransport(cfg, Identity.from_seed(bytes([i])), hub) for i in range(3)]
    return clock, hub, cfg, nodes


def run(coro):
    return asyncio.run(coro)


def test_round_trip_and_own_batch_skipped(swarm):
    clock, hub, cfg, (a, b, c) = swarm
    w = a.window()
    run(a.publish(make_batch(a.identity, w)))
    run(b.publish(make_batch(b.identity, w)))
    got = run(c.collect(8))
    assert sorted(x.sender for x in got) == sorted([a.peer_id, b.peer_id])
    assert [x.sender for x in run(a.collect(8))] == [b.peer_id]
    assert c.stats.accepted == 2 and not c.stats.rejections


def test_dedup_and_per_peer_cap(swarm):
    clock, hub, cfg, (a, b, _) = swarm
    w = a.window()
    run(a.publish(make_batch(a.identity, w, "b0")))
    assert len(run(b.collect(8))) == 1
    assert run(b.collect(8)) == []  # same record: not verified or returned twice
    clock.t += 0.1
    run(a.publish(make_batch(a.identity, w, "b1")))  # a second batch in the window gets its own slot
    assert [x.batch_id for x in run(b.collect(8))] == ["b1"] and not b.stats.rejections
    receipt = run(a.publish(make_batch(a.identity, w, "b2")))  # the cap (2): an honest publisher holds back
    assert not receipt.stored and a.stats.skipped_publishes == 1
    assert run(b.collect(8)) == [] and not b.stats.rejections


def test_flooding_peer_is_capped_and_resends_are_dropped(swarm):
    clock, hub, cfg, (a, b, _) = swarm
    w = a.window()
    key = record_key(cfg.swarm_id, w, shard_of(a.peer_id, cfg.num_shards))
    for slot in range(4):  # a hostile peer ignores the cap and writes slots 0..3
        hub.tamper(key, record_subkey(a.peer_id, slot), seal(make_batch(a.identity, w, f"f{slot}"), a.identity), clock() + 30)
    assert len(run(b.collect(8))) == 2
    assert b.stats.rejections["over_quota"] == 2
    hub.tamper(key, record_subkey(a.peer_id, 5), seal(make_batch(a.identity, w, "f0"), a.identity), clock() + 30)
    assert run(b.collect(8)) == []


def test_forgeries_rejected_with_reasons(swarm):
    clock, hub, cfg, (a, b, c) = swarm
    w = a.window()
    key = record_key(cfg.swarm_id, w, shard_of(a.peer_id, cfg.num_shards))
    exp = clock.t + 30
    good = bytearray(seal(make_batch(a.identity, w), a.identity))
    good[-70] ^= 1  # inside the signature
    hub.tamper(key, a.peer_id, bytes(good), exp)
    hub.tamper(key, b.peer_id, seal(make_batch(c.identity, w, "x"), c.identity), exp)  # c's record under b's subkey
    outsider = Identity.from_seed(b"outsider")
    hub.tamper(key, outsider.peer_id, seal(make_batch(outsider, w), outsider, b"other-secret"), exp)
    hub.tamper(key, record_subkey(outsider.peer_id, 0), seal(make_batch(outsider, w, "open"), outsider), exp)
    got = run(c.collect(8))
    assert [x.batch_id for x in got] == ["open"]  # open swarm: no secret required
    assert c.stats.rejections["bad_signature"] == 1
    assert c.stats.rejections["subkey_mismatch"] == 1
    assert c.stats.rejections["wrong_secret"] == 1  # a private swarm's record: encrypted, unreadable here


def test_wrong_swarm_secret_rejected():
    clock = Clock()
    hub = MemoryHub(clock)
    cfg = TransportConfig(type="memory", swarm_secret="s3cret", num_shards=1)
    a, b = (MemoryTransport(cfg, Identity.from_seed(bytes([i])), hub) for i in range(2))
    outsider = Identity.from_seed(b"outsider")
    w = a.window()
    key = record_key(cfg.swarm_id, w, 0)
    hub.tamper(key, outsider.peer_id, seal(make_batch(outsider, w), outsider, b"wrong"), clock.t + 30)
    run(a.publish(make_batch(a.identity, w)))
    assert [x.sender for x in run(b.collect(8))] == [a.peer_id]
    assert b.stats.rejections["wrong_secret"] == 1


def test_expired_batches_are_gone(swarm):
    clock, hub, cfg, (a, b, _) = swarm
    run(a.publish(make_batch(a.identity, a.window())))
    clock.t += cfg.record_ttl_windows * cfg.window_seconds + 1
    assert run(b.collect(8)) == []
    assert not b.stats.rejections


def test_big_batch_in_parts_and_missing_part(swarm):
    clock, hub, cfg, (a, b, c) = swarm
    w = a.window()
    batch = make_batch(a.identity, w, text_chars=5000)
    receipt = run(a.publish(batch))
    assert receipt.parts > 1 and receipt.stored
    assert run(b.collect(8)) == [batch]
    # drop one part: c cannot rebuild it and counts it as incomplete
    part = next(k for k in hub.data if "/part/" in k)
    del hub.data[part]
    assert run(c.collect(8)) == []
    assert c.stats.rejections["incomplete"] == 1


def test_a_record_stored_or_pushed_whole_over_the_inline_cap_is_refused(swarm):
    """Bulk travels as parts: a valid 96 KiB batch under a record key is refused as too_large, read or pushed."""
    clock, hub, cfg, (a, b, c) = swarm
    w = a.window()
    texts = tuple(Completion(str(i) * 32_000, 2, 1.0) for i in range(3))
    batch = RolloutBatch("testnet", a.peer_id, "tiny", T0, w, "whole", (RolloutGroup(TaskRef("chain_sum", {}, 1, 0), "q", texts),))
    whole = seal(batch, a.identity)
    assert 64 * 1024 < len(whole) < 8 * 2**20
    key = record_key(cfg.swarm_id, w, shard_of(a.peer_id, cfg.num_shards))
    hub.tamper(key, record_subkey(a.peer_id, 0), whole, clock.t + 30)
    assert run(b.collect(8)) == [] and b.stats.rejections["too_large"] == 1
    assert not c.receiver.accept_pushed(key, w, record_subkey(a.peer_id, 0), whole, clock.t + 30)
    assert c.stats.rejections["too_large"] == 1
    receipt = run(a.publish(replace(batch, batch_id="parts")))  # the same batch published: parts plus an index
    assert [x.batch_id for x in run(c.collect(8))] == ["parts"]
    assert receipt.parts <= MAX_PARTS < len(whole) // cfg.part_bytes  # parts grow past part_bytes to stay readable


def test_part_threshold_cannot_exceed_the_inline_cap():
    with pytest.raises(ValueError, match="part_threshold_bytes"):
        TransportConfig(part_threshold_bytes=128 * 1024)


def test_stale_window_and_log_once(swarm, caplog):
    clock, hub, cfg, (a, b, _) = swarm
    old = a.window() - 10
    hub.tamper(record_key(cfg.swarm_id, a.window(), shard_of(a.peer_id, cfg.num_shards)), a.peer_id, seal(make_batch(a.identity, old), a.identity), clock.t + 30)
    with caplog.at_level(logging.WARNING, logger="swarm.transports.rejections"):
        assert run(b.collect(8)) == []
        for _ in range(3):
            b.rejection_log("wrong_window", signer=a.peer_id)
    assert b.stats.rejections["wrong_window"] == 4
    assert sum("wrong_window" in r.message for r in caplog.records) == 1


def test_a_rare_collect_reads_every_window_since_the_previous_one(swarm):
    """windows_per_collect=2, record_ttl_windows=3: a collect 3 windows after the last one still reads the
    window in between, whose records live on, not only the last two."""
    clock, hub, cfg, (a, b, _) = swarm
    run(b.collect(8))  # the previous collect, in window w
    clock.t += cfg.window_seconds
    run(a.publish(make_batch(a.identity, a.window(), "skipped")))  # window w + 1
    clock.t += 2 * cfg.window_seconds  # the next collect is in w + 3: the last two windows are w + 2 and w + 3
    assert [x.batch_id for x in run(b.collect(8))] == ["skipped"]
    assert list(b._windows_to_read(b.window())) == [b.window() - 1, b.window()]
    clock.t += 10 * cfg.window_seconds  # a long gap: back only as far as records live
    w = b.window()
    assert list(b._windows_to_read(w)) == list(range(w - cfg.record_ttl_windows, w + 1))


class HangingStore(MemoryHub):
    """A store whose replicas never answer."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.stores_begun = 0

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        self.stores_begun += 1
        await asyncio.sleep(3600)
        return True


class RecordingPusher:
    def __init__(self, store: HangingStore) -> None:
        self.store, self.pushed = store, []

    def push(self, key: str, subkey: str, value: bytes, expiration: float) -> None:
        self.pushed.append((subkey, self.store.stores_begun))


def test_publish_pushes_before_it_waits_for_the_store():
    clock = Clock()
    cfg = TransportConfig(type="memory", num_shards=1, request_timeout_s=0.05)
    store = HangingStore(clock)
    a = MemoryTransport(cfg, Identity.from_seed(b"a"), store)
    a.pusher = RecordingPusher(store)
    receipt = run(a.publish(make_batch(a.identity, a.window())))
    assert a.pusher.pushed == [(record_subkey(a.peer_id, 0), 0)]  # pushed before any store began
    assert not receipt.stored  # the store timed out


def test_inbox_is_bounded():
    clock = Clock()
    hub = MemoryHub(clock)
    cfg = TransportConfig(type="memory", num_shards=1, inbox_size=2)
    nodes = [MemoryTransport(cfg, Identity.from_seed(bytes([i])), hub) for i in range(4)]
    for n in nodes[1:]:
        run(n.publish(make_batch(n.identity, n.window())))
    got = run(nodes[0].collect(8))
    assert len(got) == 2 and nodes[0].inbox.dropped_full == 1


def test_collect_verifies_only_what_it_asked_for_and_leaves_the_rest():
    clock = Clock()
    hub = MemoryHub(clock)
    cfg = TransportConfig(type="memory", num_shards=1)
    nodes = [MemoryTransport(cfg, Identity.from_seed(bytes([i])), hub) for i in range(4)]
    for n in nodes[1:]:
        run(n.publish(make_batch(n.identity, n.window())))
    first = run(nodes[0].collect(1))
    assert len(first) == 1 and nodes[0].stats.accepted == 1
    rest = run(nodes[0].collect(8))
    assert sorted(b.sender for b in first + rest) == sorted(n.peer_id for n in nodes[1:])


def test_peers_from_announcements(swarm):
    clock, hub, cfg, (a, b, c) = swarm
    run(a.publish(make_batch(a.identity, a.window())))
    run(b.collect(1))
    assert [p.peer_id for p in b.peers()] == [a.peer_id]
    clock.t += (cfg.record_ttl_windows + 1) * cfg.window_seconds  # silent past the record lifetime: gone
    assert b.peers() == []


def test_registry_and_null_transport():
    ident = Identity.generate()
    assert isinstance(build_transport(TransportConfig(type="none"), ident), NullTransport)
    with pytest.raises(ValueError, match="memory_hub"):
        build_transport(TransportConfig(type="memory"), ident)
    null = build_transport(TransportConfig(type="none"), ident)
    assert run(null.collect(4)) == [] and null.peers() == []
    assert part_key("k", "ab") == "k/part/ab"


class CountingHub(MemoryHub):
    """A hub that counts reads per key."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.reads: dict[str, int] = {}

    async def get(self, key: str, latest: bool = True):
        self.reads[key] = self.reads.get(key, 0) + 1
        return await super().get(key, latest)


def test_restart_within_a_window_does_not_overwrite_its_own_records():
    clock = Clock()
    hub = CountingHub(clock)
    cfg = TransportConfig(type="memory", window_seconds=10, num_shards=2, max_records_per_peer_per_window=3)
    me, reader = Identity.from_seed(b"restarts"), MemoryTransport(cfg, Identity.from_seed(b"reader"), hub)
    w = reader.window()
    key = record_key(cfg.swarm_id, w, shard_of(me.peer_id, cfg.num_shards))
    first = MemoryTransport(cfg, me, hub)
    assert run(first.publish(make_batch(me, w, "before"))).stored
    restarted = MemoryTransport(cfg, me, hub)  # same identity, same window: a restart
    assert run(restarted.publish(make_batch(me, w, "after-1"))).stored
    assert run(restarted.publish(make_batch(me, w, "after-2"))).stored
    assert sorted(hub.data[key]) == [record_subkey(me.peer_id, s) for s in range(3)]
    assert sorted(b.batch_id for b in run(reader.collect(8))) == ["after-1", "after-2", "before"]
    assert not run(restarted.publish(make_batch(me, w, "over"))).stored  # the cap counts the earlier run's records
    assert restarted.stats.skipped_publishes == 1
    reads = hub.reads.get(key, 0)
    clock.t += cfg.window_seconds  # a window that began after the restart: nothing to read back
    assert run(restarted.publish(make_batch(me, w + 1, "next"))).stored
    assert hub.reads.get(key, 0) == reads and hub.reads.get(record_key(cfg.swarm_id, w + 1, shard_of(me.peer_id, 2)), 0) == 0
    assert record_subkey(me.peer_id, 0) in hub.data[record_key(cfg.swarm_id, w + 1, shard_of(me.peer_id, 2))]


def test_outsiders_read_nothing_of_a_private_swarm():
    """T7p: every byte a private swarm stores (batches, parts, indexes, announcements) is opaque without the secret."""
    clock = Clock()
    hub = MemoryHub(clock)
    cfg = TransportConfig(type="memory", swarm_secret="s3cret", num_shards=1, part_threshold_bytes=2048, part_bytes=1024)
    a, b = (MemoryTransport(cfg, Identity.from_seed(bytes([i])), hub) for i in range(2))
    outsider = MemoryTransport(cfg.model_copy(update={"swarm_secret": None}), Identity.from_seed(b"outsider"), hub)
    w = a.window()
    small, big = make_batch(a.identity, w, "small"), make_batch(a.identity, w, "big", text_chars=5000)
    secret_texts = [b"5" * 10, b"2 + 3 =", b"chain_sum", b"small", b"big"]
    small = RolloutBatch(small.swarm_id, small.sender, small.model, small.created_at, w, "small",
                         (RolloutGroup(small.groups[0].task, "2 + 3 =", (Completion("private completion text", 2, 1.0),)),))
    secret_texts.append(b"private completion text")
    assert run(a.publish(small)).stored and run(a.publish(big)).parts > 1
    stored = [value for records in hub.data.values() for value, _ in records.values()]
    assert len(stored) > 3  # announcement, small batch, big batch's index and its parts
    assert not [text for text in secret_texts for value in stored if text in value]
    assert run(outsider.collect(8)) == [] and outsider.stats.rejections["wrong_secret"] >= 2
    assert sorted(x.batch_id for x in run(b.collect(8))) == ["big", "small"]  # members read them all
    public_hub = MemoryHub(clock)  # the same publish in a public swarm: the text is there for anyone
    public = MemoryTransport(cfg.model_copy(update={"swarm_secret": None}), a.identity, public_hub)
    run(public.publish(small))
    assert any(b"private completion text" in v for records in public_hub.data.values() for v, _ in records.values())
