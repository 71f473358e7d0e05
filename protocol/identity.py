"""A node's identity: one Ed25519 key pair in a file only its owner can read.

The peer id is derived from the public key, so a record signed by key K can only claim K's id.
Losing the key file loses the node's identity (and its place on a testnet's allow list): keep a
backup with `swarm identity export`.

    >>> ident = Identity.generate()
    >>> Identity.from_export(ident.export()).peer_id == ident.peer_id
    True
    >>> verify_signature(ident.public_key, b"hello", ident.sign(b"hello"))
    True

Reference: hivemind `dht/crypto.py` (RSA there; Ed25519 here, as libp2p peers use).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_EXPORT_PREFIX = "sapo-ed25519:"


class IdentityError(Exception):
    """Raised when a key file cannot be used: missing, unreadable, unsafe permissions or not a key.

    Not raised for a peer's bad signature (that is a `ProtocolError` verdict on the record).
    """


def peer_id_from_public_key(public_key: bytes) -> str:
    """Stable, printable peer id: base32 of the first 20 bytes of sha256(public key)."""
    digest = hashlib.sha256(b"sapo-swarm/peer-id\x00" + public_key).digest()[:20]
    return "sw" + base64.b32encode(digest).decode().lower().rstrip("=")


def verify_signature(public_key: bytes, data: bytes, signature: bytes) -> bool:
    """True if `signature` is `public_key`'s Ed25519 signature of `data`; never raises."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


class Identity:
    """An Ed25519 key pair with its derived peer id."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.peer_id: str = peer_id_from_public_key(self.public_key)

    @classmethod
    def generate(cls) -> "Identity":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "Identity":
        """Deterministic identity from 32 bytes (tests and simulations)."""
        return cls(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest()))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def derive_secret(self, purpose: bytes) -> bytes:
        """32 bytes derived from this key for another use (e.g. a libp2p host key): stable for this key,
        different per `purpose`, and no help in recovering the key itself (sha256 of a labelled seed)."""
        return hashlib.sha256(b"sapo-swarm/derive\x00" + purpose + b"\x00" + self._seed()).digest()

    def _seed(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    # ------------------------------------------------------------ export / import (backups)

    def export(self) -> str:
        """One line of text holding the private key: store it like a password."""
        return _EXPORT_PREFIX + base64.b64encode(self._seed()).decode()

    @classmethod
    def from_export(cls, text: str) -> "Identity":
        text = text.strip()
        if not text.startswith(_EXPORT_PREFIX):
            raise IdentityError(f"not an exported sapo-swarm key (expected a line starting with {_EXPORT_PREFIX!r})")
        try:
            seed = base64.b64decode(text[len(_EXPORT_PREFIX):], validate=True)
            return cls(Ed25519PrivateKey.from_private_bytes(seed))
        except ValueError as exc:
            raise IdentityError(f"exported key is corrupt: {exc}") from None

    # ------------------------------------------------------------ key file

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the key as PEM with mode 0600, atomically; refuses to overwrite an existing file."""
        path = Path(path).expanduser()
        if path.exists():
            raise IdentityError(f"{path} already exists; refusing to overwrite an identity (move it away first)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IdentityError(f"cannot create the folder {path.parent} for the key file ({exc.strerror or exc}): "
                                "choose another --path") from None
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise IdentityError(f"cannot write the key file {path} ({exc.strerror or exc}): choose another --path") from None
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Identity":
        """Read a key file; refuses files that others can read (fix: ``chmod 600 <path>``)."""
        path = Path(path).expanduser()
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise IdentityError(f"no identity at {path} (create one with `swarm identity new`)") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise IdentityError(
                f"{path} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
                f"fix it with `chmod 600 {path}`"
            )
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise IdentityError(f"{path} is not a readable Ed25519 key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> "Identity":
        path = Path(path).expanduser()
        if path.exists():
            return cls.load(path)
        ident = cls.generate()
        ident.save(path)
        return ident

    def __repr__(self) -> str:
        return f"Identity(peer_id={self.peer_id!r})"
