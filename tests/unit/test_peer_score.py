"""Peer scores for flood-publish targets (`swarm.transports.peer_score`) and the Pusher's use of them."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

from hivemind.p2p import PeerID
from hivemind.proto import dht_pb2

from protocol import Identity, seal
from protocol.keys import record_key, record_subkey, shard_of
from swarm.transports.config import TransportConfig
from swarm.transports.memory import MemoryHub, MemoryTransport
from swarm.transports.peer_score import Candidate, PeerScores
from swarm.transports.hivemind.push import Pusher
from tests.chaos.flood import junk, small_batch


def candidates(n: int, prefix: str = "p") -> list[Candidate[str]]:
    return [Candidate(f"{prefix}{i}", (f"{prefix}{i}-libp2p", f"{prefix}{i}-sapo")) for i in range(n)]


def test_without_refusals_targets_are_a_uniform_sample():
    scores, rng, peers = PeerScores(), random.Random(0), candidates(12)
    picks = Counter(t for _ in range(600) for t in scores.rank(peers, rng, limit=8))
    assert set(picks) == {c.target for c in peers}
    assert max(picks.values()) - min(picks.values()) < 120  # each about 400 of 4800
    assert all(len(set(scores.rank(peers, rng, 8))) == 8 for _ in range(20))


def test_flooding_peers_never_take_a_clean_peers_slot():
    scores, rng = PeerScores(), random.Random(1)
    honest, flooders = candidates(7, "h"), candidates(4, "f")
    for f in flooders:
        for _ in range(3):
            scores.accepted(f.ids[1], window=10)  # its first records were fine
    for i, f in enumerate(flooders):
        for _ in range(50 + 10 * i):  # f0 the least bad
            scores.refused(f.ids[i % 2], window=10)  # evidence under either of its ids counts
    for _ in range(50):
        chosen = scores.rank(honest + flooders, rng, limit=8)
        assert set(chosen[:7]) == {h.target for h in honest}
        assert chosen[7] == "f0"
    assert set(scores.rank(honest + flooders, rng, limit=20)) == {c.target for c in honest + flooders}


def test_silent_admitted_peers_come_after_active_clean_ones():
    scores, rng = PeerScores(), random.Random(2)
    active, silent = candidates(7, "a"), candidates(4, "s")
    for a in active:
        scores.accepted(a.ids[1], window=4)
    chosen_silent = Counter()
    for _ in range(200):
        chosen = scores.rank(silent + active, rng, limit=8)
        assert set(chosen[:7]) == {a.target for a in active}
        chosen_silent[chosen[7]] += 1
    assert set(chosen_silent) == {s.target for s in silent}  # the spare slot still rotates among them


def test_a_peer_recovers_once_it_stops_misbehaving():
    scores = PeerScores(decay=0.5)
    for _ in range(100):
        scores.refused("x", window=3)
    assert not scores.clean(("x",))
    scores.accepted("y", window=8)  # five windows later: 100 / 32 > 1 still
    assert not scores.clean(("x",))
    scores.accepted("y", window=10)  # 100 / 128 < 1
    assert scores.clean(("x",))


def test_table_stays_bounded_and_keeps_the_worst_offender():
    scores = PeerScores(max_peers=64)
    for _ in range(20):
        scores.refused("flooder", window=1)
    for i in range(5000):  # junk under ever new ids
        scores.refused(f"fresh{i}", window=1)
    assert len(scores) <= 64
    assert not scores.clean(("flooder",))


def test_decayed_entries_are_dropped():
    scores = PeerScores()
    for i in range(100):
        scores.accepted(f"p{i}", window=0)
    scores.accepted("now", window=10)
    assert len(scores) == 1


# ------------------------------------------------------------ Pusher

SECRET = "s3cret"
HONEST = [Identity.from_seed(f"score-honest{i}".encode()) for i in range(7)]
FLOODERS = [Identity.from_seed(f"score-flood{i}".encode()) for i in range(4)]
LIBP2P = {ident.peer_id: PeerID.from_base58(pid) for ident, pid in zip(HONEST + FLOODERS, [
    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
    "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN", "QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ", "QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt", "QmSoLPppuBtQSGwKDZT2M73ULpjvfd3aZ6ha4oFGL1KrGM",
    "QmSoLSafTMBsPKadTEgaXctDQVcqN88CNLHXMkTNwMKPnu", "QmSoLV4Bbm51jM9C4gDYZQ9Cy3U6aXMJDAbzgu2fzaDs64",
    "QmSoLer265NRgSp2LA3dPaeykiS1J6DifTC88f5uVQKNAd",
])}


def pusher() -> tuple[Pusher, MemoryTransport]:
    clock = SimpleNamespace(t=1000.0)
    config = TransportConfig(type="memory", swarm_id="t", swarm_secret=SECRET, window_seconds=2.0, num_shards=2)
    me = Identity.from_seed(b"score-me")
    transport = MemoryTransport(config, me, MemoryHub(lambda: clock.t))
    transport.rng = random.Random(3)
    transport.peers = lambda: [SimpleNamespace(peer_id=i.peer_id, addresses=(f"/ip4/127.0.0.1/tcp/1/p2p/{LIBP2P[i.peer_id].to_base58()}",))
                               for i in HONEST + FLOODERS]
    push = Pusher(None, transport.receiver, config, peers=transport.peers, window=transport.window, rng=transport.rng)  # type: ignore[arg-type]
    return push, transport  # p2p only carries sends; _receive and targets need none


def request(ident: Identity, transport: MemoryTransport, slot: int, value: bytes | None = None) -> dht_pb2.StoreRequest:
    window = transport.window()
    key = record_key("t", window, shard_of(ident.peer_id, 2))
    value = value or seal(small_batch(ident, "t", window, f"b{slot}"), ident, SECRET.encode())
    return dht_pb2.StoreRequest(keys=[key.encode()], subkeys=[record_subkey(ident.peer_id, slot).encode()], values=[value],
                                expiration_time=[transport.store.time() + 6], in_cache=[False])


def test_pushed_floods_demote_their_sender_and_honest_pushes_keep_their_slot():
    push, transport = pusher()
    rng = random.Random(0)
    for h in HONEST:
        assert push._receive(request(h, transport, 0), 0, LIBP2P[h.peer_id].to_base58())
    for f in FLOODERS:
        remote = LIBP2P[f.peer_id].to_base58()
        example = seal(small_batch(f, "t", transport.window(), "x"), f, SECRET.encode())
        results = [push._receive(request(f, transport, slot), 0, remote) for slot in range(8)]  # past the quota of 4
        results += [push._receive(request(f, transport, 8 + j, junk(rng, example)), 0, remote) for j in range(4)]
        assert results[:4] == [True] * 4 and not any(results[4:])
    honest_ids = {LIBP2P[h.peer_id] for h in HONEST}
    for _ in range(20):
        targets = push.targets()
        assert len(targets) == transport.config.push_fanout and honest_ids <= set(targets)


def test_an_honest_peer_framed_by_replays_keeps_its_slot():
    """Replayed or forged copies of an honest peer's records count against whoever pushed them."""
    push, transport = pusher()
    honest, attacker = HONEST[0], LIBP2P[FLOODERS[0].peer_id].to_base58()
    original = request(honest, transport, 0)
    assert push._receive(original, 0, LIBP2P[honest.peer_id].to_base58())
    for slot in range(1, 6):  # the same signed batch under other slots: duplicates
        assert not push._receive(request(honest, transport, slot, original.values[0]), 0, attacker)
    forged = bytearray(original.values[0])
    forged[-5] ^= 1
    assert not push._receive(request(honest, transport, 7, bytes(forged)), 0, attacker)
    assert transport.inbox.scores.clean((LIBP2P[honest.peer_id].to_base58(), honest.peer_id))
    assert not transport.inbox.scores.clean((attacker,))
