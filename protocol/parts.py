"""Big sealed records split into content-addressed parts, with a small signed index.

A sealed `RolloutBatch` larger than a threshold is cut into parts of at most ``part_bytes``; each part
is named by its sha256 (so nobody can swap its content), and a `PartsIndex` listing the hashes is
sealed like any record (same envelope: signature, swarm tag) and stored under the sender's subkey.
A receiver checks the index's envelope, fetches the parts, checks every hash, joins them and then
verifies the joined bytes as an ordinary sealed batch: the batch signature still covers everything.

    >>> from protocol.identity import Identity
    >>> from protocol.envelope import open_envelope
    >>> me = Identity.generate()
    >>> blob = bytes(range(256)) * 10
    >>> parts = split_record(blob, 1000)
    >>> index = PartsIndex("testnet", me.peer_id, 7, "b1", len(blob), tuple(part_hash(p) for p in parts))
    >>> env = open_envelope(seal_index(index, me))
    >>> body_type(env.plaintext(None)), read_index(env.plaintext(None)) == index
    ('parts', True)
    >>> join_parts(index, {part_hash(p): p for p in parts}) == blob
    True

The index is a new message type ("t": "parts") with its own reader, so `protocol.codec` is untouched:
an index handed to `protocol.codec.decode` is refused as an unknown type, never mistaken for a batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

import msgpack

from protocol.codec import _Reader, check_version, unpack_bounded
from protocol.envelope import seal_bytes
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import PROTOCOL_VERSION

TAG_PARTS = "parts"
MAX_PARTS = 64
"""Parts in one index (64 parts of 1 MiB exceed the 8 MiB record cap anyway)."""


# Produced by a transport's publish for a sealed batch over its part threshold; consumed by
# receivers' collect. Invariants: len(parts) <= MAX_PARTS; sum of part sizes == total_bytes;
# sender == signer of the index == signer of the joined batch.
@dataclass(frozen=True)
class PartsIndex:
    swarm_id: str
    sender: str
    window: int
    batch_id: str
    total_bytes: int
    parts: tuple[str, ...]
    """sha256 hex digests of the parts, in order."""
    version: tuple[int, int] = PROTOCOL_VERSION


def check_inline(value: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """`ProtocolError("too_large")` for a record stored or pushed whole that should have travelled as parts."""
    if len(value) > limits.max_inline_record_bytes:
        raise ProtocolError("too_large", f"{len(value)} bytes stored whole (over {limits.max_inline_record_bytes}: "
                                         "a bigger record travels as parts)")


def part_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_record(sealed: bytes, part_bytes: int) -> list[bytes]:
    """Cut sealed bytes into consecutive parts of at most ``part_bytes``."""
    assert part_bytes > 0, part_bytes
    return [sealed[i : i + part_bytes] for i in range(0, len(sealed), part_bytes)]


def seal_index(index: PartsIndex, identity: Identity, swarm_secret: bytes | None = None) -> bytes:
    """Sign (and in a private swarm, encrypt and tag) an index, in the same envelope as `protocol.seal`."""
    wire = {
        "swarm": index.swarm_id, "sender": index.sender, "window": index.window,
        "id": index.batch_id, "total": index.total_bytes, "parts": list(index.parts),
    }
    body = msgpack.packb({"v": list(index.version), "t": TAG_PARTS, "b": wire}, use_bin_type=True)
    return seal_bytes(body, identity, swarm_secret)


def body_type(body: bytes, limits: Limits = DEFAULT_LIMITS) -> str:
    """The message type tag of an envelope body ("batch", "announce", "parts"); `ProtocolError` if unreadable."""
    top = _Reader(unpack_bounded(body, limits), "record", limits)
    return top.str("t")


def read_index(body: bytes, limits: Limits = DEFAULT_LIMITS) -> PartsIndex:
    """Untrusted envelope body -> `PartsIndex`, or `ProtocolError` naming the field that failed."""
    top = _Reader(unpack_bounded(body, limits), "record", limits)
    version = check_version(top._get("v"))
    if top.str("t") != TAG_PARTS:
        raise ProtocolError("schema", "record.t: not a parts index")
    r = top.child("b")
    hashes = r.list("parts", MAX_PARTS)
    parts = tuple(_Reader({"h": h}, f"parts[{i}]", limits).str("h", 64) for i, h in enumerate(hashes))
    if not parts or any(len(h) != 64 for h in parts):
        raise ProtocolError("schema", "record.b.parts: expected 1..64 sha256 hex digests")
    return PartsIndex(
        swarm_id=r.str("swarm"), sender=r.str("sender"), window=r.int("window"), batch_id=r.str("id"),
        total_bytes=r.int("total", 1, limits.max_record_bytes), parts=parts, version=version,
    )


def join_parts(index: PartsIndex, found: Mapping[str, Any]) -> bytes:
    """Concatenate the parts named by ``index``; ``ProtocolError("incomplete")`` if any is missing or wrong."""
    chunks = []
    for digest in index.parts:
        data = found.get(digest)
        if not isinstance(data, bytes) or part_hash(data) != digest:
            raise ProtocolError("incomplete", f"part {digest[:12]} of batch {index.batch_id!r:.40} missing or corrupt")
        chunks.append(data)
    joined = b"".join(chunks)
    if len(joined) != index.total_bytes:
        raise ProtocolError("incomplete", f"parts add up to {len(joined)} bytes, index says {index.total_bytes}")
    return joined
