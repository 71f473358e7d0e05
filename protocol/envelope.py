"""Signed envelopes: what actually goes on the wire.

A sealed record is msgpack ``{"v": [1, 2], "body": <bytes>, "pub": <32 B>, "sig": <64 B>,
"tag": <32 B or empty>, "sw": <package version>}`` plus, in a private swarm, ``"enc": "aes-256-gcm"``.
``v`` and ``sw`` stay at the top of the envelope in every protocol major, so a node that cannot read a
record can still say which release to install; ``sw`` is advisory (not signed, shown only if it looks
like a version) and readers before it ignore it, as they ignore any unknown field.

Public swarm: ``body`` is the encoded message; the signature covers a domain string plus the body
bytes (a structured, canonical encoding, never a splice). Private swarm (since 1.1): ``body`` is
``nonce || AES-256-GCM(encoded message)`` under a key derived from the swarm secret
(`protocol.secrecy`), so a reader without the secret learns nothing of the rollouts; ``tag`` is
HMAC-SHA256 under the secret over the same signed bytes plus the public key, so only holders of the
secret can write.

Why the signature and the tag cover the *ciphertext* (encrypt, then sign): every storing replica
checks signature and tag (`swarm.transports.hivemind.dht_validator`) without decrypting, so a replica never
handles plaintext, a forged or tampered record is refused before any AES work, and the store-side
check costs the same in public and private swarms. Receivers decrypt only records whose tag and
signature already verified. Encrypted records sign under their own domain string, so stripping the
``enc`` field (to pass ciphertext off as a clear body) breaks the signature.

Records of protocol 1.0 have no ``enc`` field and a clear body: still readable in public swarms,
refused as ``not_encrypted`` by private ones.

    >>> from protocol.identity import Identity
    >>> from protocol.messages import PeerAnnouncement
    >>> me = Identity.generate()
    >>> msg = PeerAnnouncement(me.peer_id, "tiny", "cpu", "0.1.0", (), 1.7e9)
    >>> env = open_envelope(seal(msg, me))
    >>> env.signer == me.peer_id and env.signature_ok()
    True
    >>> private = open_envelope(seal(msg, me, b"s3cret"))
    >>> private.encrypted and private.signature_ok() and private.tag_ok(b"s3cret")
    True
    >>> private.plaintext(b"s3cret") == env.plaintext(None)
    True
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import msgpack

from protocol.codec import _Reader, check_version, encode, unpack_bounded
from protocol.errors import ProtocolError
from protocol.identity import Identity, peer_id_from_public_key, verify_signature
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import PROTOCOL_VERSION, Message
from protocol.secrecy import CIPHER, decrypt_body, encrypt_body
from protocol.versions import clean_version, package_version

_DOMAIN = b"sapo-swarm/record/v1\x00"
_DOMAIN_ENCRYPTED = b"sapo-swarm/record/v1/aes-256-gcm\x00"


def _domain(encrypted: bool) -> bytes:
    return _DOMAIN_ENCRYPTED if encrypted else _DOMAIN


def _signed_bytes(body: bytes, encrypted: bool = False) -> bytes:
    return _domain(encrypted) + body


def swarm_tag(secret: bytes, public_key: bytes, body: bytes, encrypted: bool = False) -> bytes:
    """Authentication tag of a record in a private swarm (over the body as sent: the ciphertext if encrypted)."""
    return hmac.new(secret, _domain(encrypted) + public_key + body, hashlib.sha256).digest()


def _associated(public_key: bytes) -> bytes:
    """AES-GCM associated data: the signer's key, under the encrypted-record domain."""
    return _DOMAIN_ENCRYPTED + public_key


@dataclass(frozen=True)
class Envelope:
    """A decoded but not yet trusted record. Validators decide whether to trust it."""

    body: bytes
    """As sent: the encoded message, or its ciphertext when `encrypted`."""
    public_key: bytes
    signature: bytes
    tag: bytes
    size: int
    encrypted: bool = False

    @property
    def signer(self) -> str:
        return peer_id_from_public_key(self.public_key)

    def signature_ok(self) -> bool:
        return verify_signature(self.public_key, _signed_bytes(self.body, self.encrypted), self.signature)

    def tag_ok(self, secret: bytes) -> bool:
        return hmac.compare_digest(self.tag, swarm_tag(secret, self.public_key, self.body, self.encrypted))

    def plaintext(self, secret: bytes | None) -> bytes:
        """The encoded message. Call only after the tag and signature checks passed.

        `ProtocolError`: ``not_encrypted`` for a clear body in a private swarm (a 1.0 sender, or one
        that does not encrypt); ``wrong_secret`` for a body that does not decrypt under ``secret``,
        or an encrypted body in a public swarm (``secret`` None)."""
        if not self.encrypted:
            if secret:
                raise ProtocolError("not_encrypted", "private swarm: record body sent in the clear (a sender older than protocol 1.1?)")
            return self.body
        if not secret:
            raise ProtocolError("wrong_secret", "body encrypted for a private swarm; this node has no swarm secret")
        return decrypt_body(secret, _associated(self.public_key), self.body)


def seal_bytes(body: bytes, identity: Identity, swarm_secret: bytes | None = None) -> bytes:
    """Sign an encoded message; in a private swarm encrypt it first, then sign and tag the ciphertext."""
    encrypted = bool(swarm_secret)
    if swarm_secret:
        body = encrypt_body(swarm_secret, _associated(identity.public_key), body)
    record: dict[str, Any] = {
        "v": list(PROTOCOL_VERSION),
        "body": body,
        "pub": identity.public_key,
        "sig": identity.sign(_signed_bytes(body, encrypted)),
        "tag": swarm_tag(swarm_secret, identity.public_key, body, encrypted) if swarm_secret else b"",
        "sw": package_version(),
    }
    if encrypted:
        record["enc"] = CIPHER
    return msgpack.packb(record, use_bin_type=True)


def seal(msg: Message, identity: Identity, swarm_secret: bytes | None = None) -> bytes:
    """Encode, sign and (in a private swarm) encrypt and tag a message."""
    return seal_bytes(encode(msg), identity, swarm_secret)


def _bin(r: _Reader, key: str, sizes: tuple[int, ...] | None, max_len: int) -> bytes:
    value = r._get(key)
    if not isinstance(value, bytes):
        raise ProtocolError("schema", f"envelope.{key}: expected bytes, got {type(value).__name__}")
    if sizes is not None and len(value) not in sizes:
        raise ProtocolError("schema", f"envelope.{key}: {len(value)} bytes, expected one of {sizes}")
    if len(value) > max_len:
        raise ProtocolError("too_large", f"envelope.{key}: {len(value)} bytes > max {max_len}")
    return value


def _encrypted(raw: dict[str, Any]) -> bool:
    cipher = raw.get("enc", "")
    if cipher not in ("", CIPHER):
        raise ProtocolError("schema", f"envelope.enc: {cipher!r:.40} is not a known cipher (expected {CIPHER!r})")
    return cipher == CIPHER


def open_envelope(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Untrusted bytes -> `Envelope` (shape and sizes checked; signature not yet checked, body not decrypted)."""
    raw: Any = unpack_bounded(data, limits)
    r = _Reader(raw, "envelope", limits)
    check_version(r._get("v"), "envelope", clean_version(raw.get("sw")))
    if "sig" not in raw or raw["sig"] in (b"", None):
        raise ProtocolError("no_signature", "envelope.sig: missing")
    return Envelope(
        body=_bin(r, "body", None, limits.max_record_bytes),
        public_key=_bin(r, "pub", (32,), 32),
        signature=_bin(r, "sig", (64,), 64),
        tag=_bin(r, "tag", (0, 32), 32),
        size=len(data),
        encrypted=_encrypted(raw),
    )
