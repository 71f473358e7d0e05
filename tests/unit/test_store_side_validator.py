"""One factory builds the store-side validator of every replica we run: a node's and a bootstrap peer's
refuse the same records (slot cap, allow list, expiry bound, secret, signature), with the receivers' checks."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from hivemind.dht.validation import DHTRecord

from protocol import Identity, seal
from protocol.keys import record_subkey
from swarm.transports.config import TransportConfig
from swarm.transports.hivemind import bootstrap_node, transport
from swarm.transports.hivemind.dht_validator import SignedRecordValidator, build_record_validator
from swarm.transports.receiver import build_verifier
from tests.unit.protocol_factories import make_batch

NOW = 1.7e9
ALICE, MALLORY = Identity.from_seed(b"alice"), Identity.from_seed(b"mallory")
CONFIG = TransportConfig(swarm_id="t", swarm_secret="s", allowed_peers=[ALICE.peer_id], max_records_per_peer_per_window=4,
                         window_seconds=2.0, record_ttl_windows=3, max_clock_skew_s=10.0)


def record(ident: Identity, subkey: str, *, secret: bytes | None = b"s", ahead_s: float = 6.0) -> DHTRecord:
    value = seal(make_batch(ident, swarm_id="t", window=int(NOW // 2)), ident, secret)
    return DHTRecord(b"key", msgpack.packb(subkey), msgpack.packb(value, use_bin_type=True), NOW + ahead_s)


CASES = {
    "good": (record(ALICE, record_subkey(ALICE.peer_id, 3)), None),
    "over the slot cap": (record(ALICE, record_subkey(ALICE.peer_id, 4)), "over_quota"),
    "slot that is not a number": (record(ALICE, f"{ALICE.peer_id}.x"), "schema"),
    "not on the allow list": (record(MALLORY, record_subkey(MALLORY.peer_id, 0)), "not_allowed"),
    "expires too far ahead": (record(ALICE, record_subkey(ALICE.peer_id, 0), ahead_s=3600.0), "future_window"),
    "wrong secret": (record(ALICE, record_subkey(ALICE.peer_id, 1), secret=b"other"), "wrong_secret"),
    "clear body": (record(ALICE, record_subkey(ALICE.peer_id, 2), secret=None), "wrong_secret"),
    "under another's subkey": (record(MALLORY, record_subkey(ALICE.peer_id, 0)), "subkey_mismatch"),
}


def verdicts(validator: SignedRecordValidator) -> dict[str, str | None]:
    reasons: list[str] = []
    validator.report = lambda reason, detail="", **who: reasons.append(reason)
    out = {}
    for name, (rec, _) in CASES.items():
        ok = validator.validate(rec)
        out[name] = None if ok else reasons[-1]
    return out


def test_the_factory_refuses_what_receivers_refuse() -> None:
    assert verdicts(build_record_validator(CONFIG, clock=lambda: NOW)) == {k: v for k, (_, v) in CASES.items()}
    verifier = build_verifier(CONFIG)
    envelope_only = {k: v for k, (_, v) in CASES.items() if v != "future_window"}  # expiry: a store-side bound
    for name, reason in envelope_only.items():
        rec = CASES[name][0]
        env = verifier.open_inline(msgpack.unpackb(rec.value))
        verdict = verifier.check_envelope(env, msgpack.unpackb(rec.subkey))
        assert (verdict.reason if verdict else None) == reason, name


def captured_validator(monkeypatch: pytest.MonkeyPatch, module, run) -> SignedRecordValidator:
    """The validator ``module`` hands to start_dht_node when ``run`` starts a node (the start is cut short there)."""
    seen = []

    class Stop(Exception):
        pass

    async def fake_start(config, validator):
        seen.append(validator)
        raise Stop

    monkeypatch.setattr(module, "start_dht_node", fake_start)
    with pytest.raises(Stop):
        asyncio.run(run())
    return seen[0]


def test_bootstrap_peer_and_node_replicas_refuse_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    async def open_bootstrap() -> None:
        async with bootstrap_node.open_bootstrap_node(CONFIG):
            pass

    boot = captured_validator(monkeypatch, bootstrap_node, open_bootstrap)
    node = captured_validator(monkeypatch, transport, lambda: transport.HivemindTransport(CONFIG, ALICE).start())
    for v in (boot, node):
        v.clock = lambda: NOW
    expected = {k: v for k, (_, v) in CASES.items()}
    assert verdicts(boot) == verdicts(node) == expected
    assert boot.verifier.max_slots == 4 and boot.verifier.allowed_peers == frozenset({ALICE.peer_id})


def test_announcements_under_sharded_announce_keys_keep_the_replica_rules() -> None:
    """Replicas see a hashed key, not ``.../a<shard>``: an announcement is judged by its subkey and envelope alone
    (the own-shard rule is the readers', `Receiver`), so sharding announce keys changes nothing a replica checks."""
    from protocol import PeerAnnouncement
    from protocol.keys import announce_key

    def announcement(ident: Identity, subkey: str) -> DHTRecord:
        msg = PeerAnnouncement(ident.peer_id, "m", "h", "0.1.0", (), NOW, "t", int(NOW // 2))
        key = announce_key("t", int(NOW // 2), 3).encode()
        return DHTRecord(key, msgpack.packb(subkey), msgpack.packb(seal(msg, ident, b"s"), use_bin_type=True), NOW + 6.0)

    refused: list[str] = []
    validator = build_record_validator(CONFIG, clock=lambda: NOW, report=lambda reason, *a, **k: refused.append(reason))
    assert validator.validate(announcement(ALICE, ALICE.peer_id))
    assert not validator.validate(announcement(MALLORY, ALICE.peer_id))
    assert not validator.validate(announcement(MALLORY, MALLORY.peer_id))
    assert refused == ["subkey_mismatch", "not_allowed"]
