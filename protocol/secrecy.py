"""Record bodies of private swarms, encrypted under the swarm secret (AES-256-GCM).

The key is HKDF-SHA256 of the swarm secret with a fixed info label, so the secret itself never keys
two algorithms (it also keys the HMAC tag of `protocol.envelope`). Each body gets a fresh random
96-bit nonce, sent in front of the ciphertext; the associated data names the signer, so a ciphertext
cut out of one peer's record and re-signed by another does not decrypt.

    >>> blob = encrypt_body(b"secret", b"signer", b"hello")
    >>> len(blob) == NONCE_BYTES + len(b"hello") + 16 and b"hello" not in blob
    True
    >>> decrypt_body(b"secret", b"signer", blob)
    b'hello'
    >>> decrypt_body(b"other", b"signer", blob)
    Traceback (most recent call last):
    ...
    protocol.errors.ProtocolError: wrong_secret: body does not decrypt under the swarm key

Reference: `cryptography` `hazmat.primitives.ciphers.aead.AESGCM` and `kdf.hkdf.HKDF`.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.errors import ProtocolError

CIPHER = "aes-256-gcm"
"""Value of the envelope's ``enc`` field for an encrypted body."""
NONCE_BYTES = 12
TAG_BYTES = 16
_INFO = b"sapo-swarm/record-body/aes-256-gcm/v1"


def body_key(secret: bytes) -> bytes:
    """The 256-bit body key of a swarm secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def encrypt_body(secret: bytes, associated: bytes, plaintext: bytes) -> bytes:
    """nonce || AES-256-GCM(plaintext) with its 16-byte tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(body_key(secret)).encrypt(nonce, plaintext, associated)


def decrypt_body(secret: bytes, associated: bytes, blob: bytes) -> bytes:
    """The plaintext of `encrypt_body`'s output; `ProtocolError("wrong_secret")` if it does not open."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise ProtocolError("wrong_secret", f"encrypted body of {len(blob)} bytes is shorter than nonce and tag")
    try:
        return AESGCM(body_key(secret)).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
    except InvalidTag:
        raise ProtocolError("wrong_secret", "body does not decrypt under the swarm key") from None
