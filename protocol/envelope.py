"""Signed envelopes: what actually goes on the wire.

A sealed record is msgpack ``{"v": [1, 0], "body": <encoded message>, "pub": <32 B>, "sig": <64 B>,
"tag": <32 B or empty>}``. The signature covers a domain string plus the body bytes (a structured,
canonical encoding, never a splice). In a private swarm, ``tag`` is HMAC-SHA256 under the swarm
secret over the same bytes plus the public key, so only holders of the secret can write.

    >>> from protocol.identity import Identity
    >>> from protocol.messages import PeerAnnouncement
    >>> me = Identity.generate()
    >>> msg = PeerAnnouncement(me.peer_id, "tiny", "cpu", "0.1.0", (), 1.7e9)
    >>> env = open_envelope(seal(msg, me))
    >>> env.signer == me.peer_id and env.signature_ok()
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

_DOMAIN = b"sapo-swarm/record/v1\x00"


def _signed_bytes(body: bytes) -> bytes:
    return _DOMAIN + body


def swarm_tag(secret: bytes, public_key: bytes, body: bytes) -> bytes:
    """Authentication tag of a record in a private swarm."""
    return hmac.new(secret, _DOMAIN + public_key + body, hashlib.sha256).digest()


@dataclass(frozen=True)
class Envelope:
    """A decoded but not yet trusted record. Validators decide whether to trust it."""

    body: bytes
    public_key: bytes
    signature: bytes
    tag: bytes
    size: int

    @property
    def signer(self) -> str:
        return peer_id_from_public_key(self.public_key)

    def signature_ok(self) -> bool:
        return verify_signature(self.public_key, _signed_bytes(self.body), self.signature)

    def tag_ok(self, secret: bytes) -> bool:
        return hmac.compare_digest(self.tag, swarm_tag(secret, self.public_key, self.body))


def seal(msg: Message, identity: Identity, swarm_secret: bytes | None = None) -> bytes:
    """Encode, sign and (in a private swarm) tag a message."""
    body = encode(msg)
    tag = swarm_tag(swarm_secret, identity.public_key, body) if swarm_secret else b""
    record = {
        "v": list(PROTOCOL_VERSION),
        "body": body,
        "pub": identity.public_key,
        "sig": identity.sign(_signed_bytes(body)),
        "tag": tag,
    }
    return msgpack.packb(record, use_bin_type=True)


def _bin(r: _Reader, key: str, sizes: tuple[int, ...] | None, max_len: int) -> bytes:
    value = r._get(key)
    if not isinstance(value, bytes):
        raise ProtocolError("schema", f"envelope.{key}: expected bytes, got {type(value).__name__}")
    if sizes is not None and len(value) not in sizes:
        raise ProtocolError("schema", f"envelope.{key}: {len(value)} bytes, expected one of {sizes}")
    if len(value) > max_len:
        raise ProtocolError("too_large", f"envelope.{key}: {len(value)} bytes > max {max_len}")
    return value


def open_envelope(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Untrusted bytes -> `Envelope` (shape and sizes checked; signature not yet checked)."""
    raw: Any = unpack_bounded(data, limits)
    r = _Reader(raw, "envelope", limits)
    check_version(r._get("v"), "envelope")
    if "sig" not in raw or raw["sig"] in (b"", None):
        raise ProtocolError("no_signature", "envelope.sig: missing")
    return Envelope(
        body=_bin(r, "body", None, limits.max_record_bytes),
        public_key=_bin(r, "pub", (32,), 32),
        signature=_bin(r, "sig", (64,), 64),
        tag=_bin(r, "tag", (0, 32), 32),
        size=len(data),
    )
