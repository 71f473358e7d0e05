"""Signatures, sender ids, swarm secrets and windows: each refusal has its own reason."""

from __future__ import annotations

import msgpack
import pytest

from protocol import PROTOCOL_VERSION, Identity, RecordVerifier, encode, seal
from protocol.envelope import _signed_bytes
from tests.unit.protocol_factories import make_announcement, make_batch

ALICE, MALLORY = Identity.from_seed(b"alice"), Identity.from_seed(b"mallory")
WINDOW = 170_000_000


def _verifier(**kwargs) -> RecordVerifier:
    return RecordVerifier(swarm_id="test", window_clock=lambda: WINDOW, **kwargs)


def test_valid_batch_and_announcement_are_accepted() -> None:
    for msg in (make_batch(ALICE), make_announcement(ALICE)):
        verdict = _verifier().verify(seal(msg, ALICE), subkey=ALICE.peer_id, window=WINDOW)
        assert verdict.accepted and verdict.message == msg and verdict.signer == ALICE.peer_id


def test_one_flipped_byte_in_the_body_is_a_bad_signature() -> None:
    record = msgpack.unpackb(seal(make_batch(ALICE), ALICE))
    body = bytearray(record["body"])
    body[len(body) // 2] ^= 0x01
    record["body"] = bytes(body)
    assert _verifier().verify(msgpack.packb(record)).reason == "bad_signature"


def test_record_under_a_foreign_subkey_is_refused() -> None:
    verdict = _verifier().verify(seal(make_batch(MALLORY), MALLORY), subkey=ALICE.peer_id)
    assert verdict.reason == "subkey_mismatch"


def test_batch_claiming_another_sender_is_refused() -> None:
    forged = make_batch(ALICE)  # sender = alice, but signed by mallory
    assert _verifier().verify(seal(forged, MALLORY)).reason == "sender_mismatch"


def test_signature_transplanted_from_another_key_is_refused() -> None:
    record = msgpack.unpackb(seal(make_batch(ALICE), ALICE))
    record["pub"] = MALLORY.public_key
    assert _verifier().verify(msgpack.packb(record)).reason == "bad_signature"


def test_missing_signature_is_refused() -> None:
    record = msgpack.unpackb(seal(make_batch(ALICE), ALICE))
    record["sig"] = b""
    assert _verifier().verify(msgpack.packb(record)).reason == "no_signature"


def test_wrong_or_missing_swarm_secret_is_refused() -> None:
    verifier = _verifier(swarm_secret=b"right")
    assert verifier.verify(seal(make_batch(ALICE), ALICE, b"right")).accepted
    assert verifier.verify(seal(make_batch(ALICE), ALICE, b"wrong")).reason == "wrong_secret"
    assert verifier.verify(seal(make_batch(ALICE), ALICE)).reason == "wrong_secret"


def test_allow_list() -> None:
    verifier = _verifier(allowed_peers=frozenset({ALICE.peer_id}))
    assert verifier.verify(seal(make_batch(ALICE), ALICE)).accepted
    assert verifier.verify(seal(make_batch(MALLORY), MALLORY)).reason == "not_allowed"


@pytest.mark.parametrize(("window", "key_window", "reason"), [
    (WINDOW - 10, None, "stale_window"),
    (WINDOW + 5, None, "future_window"),
    (WINDOW, WINDOW - 1, "wrong_window"),
])
def test_window_checks(window: int, key_window: int | None, reason: str) -> None:
    verdict = _verifier().verify(seal(make_batch(ALICE, window=window), ALICE), window=key_window)
    assert verdict.reason == reason


def test_other_swarm_is_refused() -> None:
    assert _verifier().verify(seal(make_batch(ALICE, swarm_id="other"), ALICE)).reason == "wrong_swarm"


def test_garbage_gets_a_verdict_not_an_exception() -> None:
    for data in (b"", b"\x00" * 10, msgpack.packb({"v": [1, 0]}), encode(make_batch(ALICE))):
        assert not _verifier().verify(data).accepted


def test_signature_covers_a_domain_separated_encoding() -> None:
    body = encode(make_batch(ALICE))
    assert _signed_bytes(body) != body and _signed_bytes(body).endswith(body)


# ---------------------------------------------------------------- private swarms: encrypted bodies


def _fields(data: bytes) -> dict:
    return msgpack.unpackb(data, raw=False)


def test_private_record_is_encrypted_signed_over_the_ciphertext_and_decrypted_by_members() -> None:
    batch = make_batch(ALICE)
    sealed = seal(batch, ALICE, b"right")
    record = _fields(sealed)
    assert record["enc"] == "aes-256-gcm" and record["v"] == list(PROTOCOL_VERSION)
    assert encode(batch) not in sealed and batch.groups[0].completions[0].text.encode() not in record["body"]
    assert _verifier(swarm_secret=b"right").verify(sealed).message == batch
    assert seal(batch, ALICE, b"right") != sealed  # a fresh nonce each time


def test_public_records_keep_the_1_0_layout() -> None:
    record = _fields(seal(make_batch(ALICE), ALICE))
    # "sw" (the sender's package version, advisory) is the one addition: readers ignore fields they do not know
    assert set(record) == {"v", "body", "pub", "sig", "tag", "sw"} and record["body"] == encode(make_batch(ALICE))


def test_encryption_failures_have_their_reasons() -> None:
    from protocol.envelope import swarm_tag
    from protocol.errors import REASONS

    assert "not_encrypted" in REASONS
    private = seal(make_batch(ALICE), ALICE, b"right")
    assert _verifier().verify(private).reason == "wrong_secret"  # public swarm: cannot read a private record
    record = _fields(seal(make_batch(ALICE), ALICE))  # a 1.0 insider: clear body, tag under the secret
    record["tag"] = swarm_tag(b"right", ALICE.public_key, record["body"])
    assert _verifier(swarm_secret=b"right").verify(msgpack.packb(record)).reason == "not_encrypted"
    stripped = _fields(private)
    del stripped["enc"]  # ciphertext passed off as a clear body: the signature domain no longer matches
    assert _verifier().verify(msgpack.packb(stripped)).reason == "bad_signature"
    insider = _fields(private)  # tag and signature redone over a ciphertext that does not open
    body = insider["body"][:-1] + bytes([insider["body"][-1] ^ 1])
    insider.update(body=body, sig=ALICE.sign(_signed_bytes(body, encrypted=True)),
                   tag=swarm_tag(b"right", ALICE.public_key, body, encrypted=True))
    assert _verifier(swarm_secret=b"right").verify(msgpack.packb(insider)).reason == "wrong_secret"
    unknown = _fields(private)
    unknown["enc"] = "rot13"
    assert _verifier(swarm_secret=b"right").verify(msgpack.packb(unknown)).reason == "schema"


def test_ciphertext_is_bound_to_its_signer() -> None:
    """MALLORY re-signs ALICE's ciphertext as its own (holding the secret): the associated data differs."""
    from protocol.envelope import swarm_tag

    record = _fields(seal(make_batch(ALICE), ALICE, b"right"))
    body = record["body"]
    record.update(pub=MALLORY.public_key, sig=MALLORY.sign(_signed_bytes(body, encrypted=True)),
                  tag=swarm_tag(b"right", MALLORY.public_key, body, encrypted=True))
    assert _verifier(swarm_secret=b"right").verify(msgpack.packb(record)).reason == "wrong_secret"
