"""A stable libp2p host key derived from a node's Ed25519 identity, so a restart keeps its libp2p peer id.

A bootstrap peer's address ends in its libp2p peer id (``/p2p/12D3KooW...``); a fresh daemon key on every
restart kills every address handed out. With ``transport.stable_peer_id`` (`swarm bootstrap --identity`),
`libp2p_key_option` writes the p2p daemon's ``-id`` file beside the identity (``<key file>.libp2p``, 0600):
a libp2p ``PrivateKey`` protobuf (type Ed25519, data = seed || public key) whose seed is derived from the
identity (`Identity.derive_secret`), never the identity key itself, so the key that signs records and the
transport key stay apart while both come from the one backed-up key file.

    >>> from protocol import Identity
    >>> ident = Identity.from_seed(b"bootstrap")
    >>> libp2p_peer_id(ident) == libp2p_peer_id(Identity.from_seed(b"bootstrap"))
    True
    >>> libp2p_peer_id(ident)[:8]
    '12D3KooW'

Reference: libp2p specs ``peer-ids/peer-ids.md`` (key protobuf; peer id = identity multihash of the
marshalled public key when it is at most 42 bytes, as Ed25519's 36 are).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.identity import Identity
from swarm.maddr import _B58

_PURPOSE = b"libp2p-host-key"
_ED25519 = 1
"""KeyType.Ed25519 in libp2p's crypto.proto."""


def _keys(identity: Identity) -> tuple[bytes, bytes]:
    seed = identity.derive_secret(_PURPOSE)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return seed, public


def _protobuf(key_type: int, data: bytes) -> bytes:
    """``message Key { KeyType Type = 1; bytes Data = 2; }`` for data shorter than 128 bytes."""
    return bytes([0x08, key_type, 0x12, len(data)]) + data


def b58encode(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def libp2p_peer_id(identity: Identity) -> str:
    """The libp2p peer id a daemon started with `write_libp2p_key(identity, ...)` has."""
    _, public = _keys(identity)
    marshalled = _protobuf(_ED25519, public)
    return b58encode(bytes([0x00, len(marshalled)]) + marshalled)


def libp2p_key_path(identity_path: str | os.PathLike[str]) -> Path:
    """Where the daemon key derived from the identity at `identity_path` is kept: beside it, ``<name>.libp2p``."""
    path = Path(identity_path).expanduser()
    return path.with_name(path.name + ".libp2p")


def ensure_libp2p_key(identity: Identity, path: Path) -> Path:
    """Write the daemon key file (mode 0600) unless it already holds this identity's key; returns `path`.
    It needs no backup: it is rebuilt from the identity whenever it is missing."""
    seed, public = _keys(identity)
    data = _protobuf(_ED25519, seed + public)
    try:
        if path.read_bytes() == data:
            return path
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def libp2p_key_option(config: Any) -> dict[str, str]:
    """``DHTNode.create``/``P2P.create`` keyword for a transport config: ``{"identity_path": key file}`` when
    ``config.stable_peer_id`` (the key derived from ``config.identity_path``), else ``{}`` (a fresh id per start)."""
    if not config.stable_peer_id:
        return {}
    if not config.identity_path:
        raise ValueError("transport.stable_peer_id needs transport.identity_path (the key file to derive it from)")
    identity = Identity.load(config.identity_path)
    return {"identity_path": str(ensure_libp2p_key(identity, libp2p_key_path(config.identity_path)))}
