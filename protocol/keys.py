"""Where records live in the DHT: time windows of DHT time and stable shards of the peer id.

    >>> record_key("testnet", 12, 3)
    'sapo/testnet/w12/s3'
    >>> shard_of("swabc", 4) == shard_of("swabc", 4)
    True
    >>> announce_key("testnet", 12, 0), is_announce_key("sapo/testnet/w12/a0"), is_announce_key("sapo/testnet/w12/s0")
    ('sapo/testnet/w12/a0', True, False)

Shards use sha256, never Python's salted `hash()`, so every node agrees on them.
"""

from __future__ import annotations

import hashlib
import re

_ANNOUNCE = re.compile(r"/w-?\d{1,12}/a\d{1,6}$")


def window_of(t: float, window_seconds: float) -> int:
    """The time window a timestamp falls in."""
    return int(t // window_seconds)


def shard_of(peer_id: str, num_shards: int) -> int:
    """Stable shard of a peer id in [0, num_shards)."""
    digest = hashlib.sha256(peer_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def record_subkey(peer_id: str, slot: int) -> str:
    """Subkey of a peer's `slot`-th record in a window: a peer may publish several batches per window.

    >>> subkey_owner(record_subkey("swabc", 2))
    'swabc'
    """
    return f"{peer_id}.{slot}"


def subkey_owner(subkey: str) -> str:
    """The peer id a subkey belongs to (peer ids never contain a dot)."""
    return subkey.partition(".")[0]


def subkey_slot(subkey: str) -> int | None:
    """The slot number of a record subkey; None for a bare peer id (announcements) or a slot that is
    not a plain decimal number.

    >>> subkey_slot(record_subkey("swabc", 3)), subkey_slot("swabc"), subkey_slot("swabc.-1")
    (3, None, None)
    """
    _, dot, slot = subkey.partition(".")
    if not dot or not slot.isascii() or not slot.isdigit() or len(slot) > 9:
        return None
    return int(slot)


def record_key(swarm_id: str, window: int, shard: int) -> str:
    """DHT key of the rollout records of one shard in one window."""
    return f"sapo/{swarm_id}/w{window}/s{shard}"


def announce_key(swarm_id: str, window: int, shard: int = 0) -> str:
    """DHT key of the peer announcements of one announce shard in one window: a peer announces under
    ``shard_of(peer id, announce_shards)``, so no key holds every peer of a large swarm."""
    return f"sapo/{swarm_id}/w{window}/a{shard}"


def is_announce_key(key: str) -> bool:
    """True for a key built by `announce_key` (record keys end in ``/s<shard>``, parts in ``/part/<sha256>``)."""
    return _ANNOUNCE.search(key) is not None
