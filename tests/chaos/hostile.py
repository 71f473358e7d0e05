"""Hostile records, one builder per attack class (T5 of the chaos issue), shared by tests and benchmarks.

Each builder returns the (key, subkey, value) triples an attacker stores straight into the DHT,
bypassing every honest check, and the reason an honest receiver must count it under. The attacker
is an insider (it holds the swarm secret and is on the allow list) unless the class says otherwise,
so each record gets past every check but the one its class targets.

    ctx = AttackContext(attacker, "t-chaos", b"secret", window=123, num_shards=2, victim="sw...")
    for inj in build("random_signature", ctx):
        await store.store(inj.key, inj.subkey, inj.value, expiration)

The expected reasons assume the receiver reads keys of its current windows only: a record stored
under a key it never reads never reaches it (counted as "reached 0", not as a rejection).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass, field, replace

import msgpack

from protocol import Completion, Identity, RolloutBatch, RolloutGroup, TaskRef
from protocol.codec import encode
from protocol.envelope import seal, seal_bytes, swarm_tag
from protocol.keys import record_key, record_subkey, shard_of
from protocol.limits import DEFAULT_LIMITS
from protocol.parts import PartsIndex, seal_index

CAP = DEFAULT_LIMITS.max_record_bytes


@dataclass(frozen=True)
class AttackContext:
    attacker: Identity
    swarm_id: str
    secret: bytes | None
    window: int
    num_shards: int
    victim: str = ""
    """An honest peer id, for overwrites under its subkey."""
    outsider: Identity = field(default_factory=lambda: Identity.from_seed(b"chaos-outsider"))
    """A key that is not on the allow list."""
    tag: str = "x"
    """Makes batch ids unique per injection round."""


@dataclass(frozen=True)
class Injection:
    key: str
    subkey: str
    value: object
    """Usually bytes; a few malformed classes store other DHT value types."""


def valid_batch(ident: Identity, swarm_id: str, window: int, batch_id: str, *, index: int = 3,
                reward: float = 1.0, text: str = "7") -> RolloutBatch:
    group = RolloutGroup(TaskRef("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}, 42, index),
                         "3 + 4 =", (Completion(text, 1, reward), Completion("8", 1, 0.0)))
    return RolloutBatch(swarm_id, ident.peer_id, "tiny-0.5m", time.time(), window, batch_id, (group,))


def envelope(body: bytes, ident: Identity, secret: bytes | None, *, sig: bytes | None = None) -> bytes:
    """A sealed record around arbitrary body bytes (encrypted in a private swarm, as honest nodes do):
    a correct tag (insider) and a signature unless given."""
    sealed = seal_bytes(body, ident, secret)
    if sig is None:
        return sealed
    record = msgpack.unpackb(sealed, raw=False)
    record["sig"] = sig
    return msgpack.packb(record, use_bin_type=True)


def _raw_body(batch: RolloutBatch, patch) -> bytes:
    """Encode `batch`, let `patch` edit the wire dict, re-pack: bodies the honest encoder refuses to write."""
    wire = msgpack.unpackb(encode(batch), raw=False)
    patch(wire["b"])
    return msgpack.packb(wire, use_bin_type=True)


class _Builder:
    def __init__(self, ctx: AttackContext) -> None:
        self.ctx, self.me = ctx, ctx.attacker
        self.key = record_key(ctx.swarm_id, ctx.window, shard_of(self.me.peer_id, ctx.num_shards))
        self.subkey = record_subkey(self.me.peer_id, 0)

    def batch(self, name: str, window: int | None = None, **kw) -> RolloutBatch:
        w = self.ctx.window if window is None else window
        return valid_batch(self.me, self.ctx.swarm_id, w, f"hostile-{name}-{self.ctx.tag}", **kw)

    def sealed(self, name: str, **kw) -> bytes:
        return seal(self.batch(name, **kw), self.me, self.ctx.secret)

    def at_own_key(self, value: object) -> list[Injection]:
        return [Injection(self.key, self.subkey, value)]

    def body(self, name: str, patch) -> bytes:
        return envelope(_raw_body(self.batch(name), patch), self.me, self.ctx.secret)


def _flip(sealed: bytes, needle: bytes) -> bytes:
    """Flip one bit inside a completion text of the signed body (msgpack structure stays valid)."""
    pos = sealed.index(needle)
    return sealed[:pos] + bytes([sealed[pos] ^ 0x01]) + sealed[pos + 1:]


def _oversize_index(b: _Builder, name: str, total: int) -> list[Injection]:
    """A signed parts index declaring `total` bytes: receivers must refuse it before fetching anything."""
    parts = tuple(hashlib.sha256(i.to_bytes(4, "big")).hexdigest() for i in range(min(64, total // (1 << 20) + 1)))
    index = PartsIndex(b.ctx.swarm_id, b.me.peer_id, b.ctx.window, f"hostile-{name}-{b.ctx.tag}", total, parts)
    return b.at_own_key(seal_index(index, b.me, b.ctx.secret))


def build(kind: str, ctx: AttackContext) -> list[Injection]:
    """The records of one attack class; see `CLASSES` for the reason each must be rejected with."""
    b = _Builder(ctx)
    c = ctx
    if kind == "random_signature":
        return b.at_own_key(envelope(encode(b.batch(kind)), b.me, c.secret, sig=os.urandom(64)))
    if kind == "other_subkey":  # a valid record of ours written over each of the victim's slots
        key = record_key(c.swarm_id, c.window, shard_of(c.victim, c.num_shards))
        return [Injection(key, record_subkey(c.victim, slot), b.sealed(kind)) for slot in range(4)]
    if kind == "no_signature":
        return b.at_own_key(envelope(encode(b.batch(kind)), b.me, c.secret, sig=b""))
    if kind == "flipped_bit":  # the tag is recomputed (insider): only the signature catches it
        env = msgpack.unpackb(b.sealed(kind, text="flipme"), raw=False)
        body = env["body"]  # the text in a public swarm, the middle of the ciphertext in a private one
        env["body"] = _flip(body, b"flipme") if b"flipme" in body else _flip(body, body[len(body) // 2:][:1])
        env["tag"] = swarm_tag(c.secret, b.me.public_key, env["body"], encrypted="enc" in env) if c.secret else b""
        return b.at_own_key(msgpack.packb(env, use_bin_type=True))
    if kind == "replay_old_window":  # signed five windows ago, replayed under the current key
        return b.at_own_key(b.sealed(kind, window=c.window - 5))
    if kind == "moved_window":  # last window's record, moved under this window's key
        return b.at_own_key(b.sealed(kind, window=c.window - 1))
    if kind == "moved_shard":  # a valid record under our subkey but in a shard that is not ours
        other = next(s for s in range(c.num_shards) if s != shard_of(b.me.peer_id, c.num_shards))
        return [Injection(record_key(c.swarm_id, c.window, other), b.subkey, b.sealed(kind))]
    if kind == "future_window":
        return b.at_own_key(b.sealed(kind, window=c.window + 5))
    if kind == "oversize_direct":  # 2x the record cap as one DHT value: over hivemind's 4 MiB message limit
        return b.at_own_key(envelope(b"\x00" * (2 * CAP), b.me, c.secret))
    if kind == "oversize_2x":
        return _oversize_index(b, kind, 2 * CAP)
    if kind == "oversize_100x":
        return _oversize_index(b, kind, 100 * CAP)
    if kind == "malformed_truncated":
        sealed = b.sealed(kind)
        return b.at_own_key(sealed[: len(sealed) // 2])
    if kind == "malformed_wrong_types":
        return b.at_own_key(msgpack.packb({"v": [1, 0], "body": 17, "pub": "x" * 32, "sig": [1, 2], "tag": None}))
    if kind == "malformed_deep_nesting":
        return b.at_own_key(b"\x91" * 10_000 + b"\xc0")
    if kind == "malformed_huge_length":  # bin32 header declaring 2**32 - 1 bytes, followed by a few
        return b.at_own_key(b"\x85\xa1v\x92\x01\x00\xa4body\xc6\xff\xff\xff\xff" + b"\x00" * 64)
    if kind == "malformed_trailing":
        return b.at_own_key(b.sealed(kind) + b"\x00trailing")
    if kind == "malformed_signed_body":  # a correctly signed body that is not a valid message (trailing bytes)
        return b.at_own_key(envelope(encode(b.batch(kind)) + b"\xc0", b.me, c.secret))
    if kind == "schema_nan":
        return b.at_own_key(b.body(kind, lambda w: w["groups"][0]["c"][0].__setitem__(2, math.nan)))
    if kind == "schema_inf":
        return b.at_own_key(b.body(kind, lambda w: w.__setitem__("created", math.inf)))
    if kind == "schema_negative_index":
        return b.at_own_key(b.body(kind, lambda w: w["groups"][0]["task"].__setitem__("i", -1)))
    if kind == "wrong_secret":
        return b.at_own_key(seal(b.batch(kind), b.me, b"not-the-swarm-secret"))
    if kind == "wrong_swarm":
        return b.at_own_key(seal(replace(b.batch(kind), swarm_id="another-swarm"), b.me, c.secret))
    if kind == "not_allowed":  # holds the secret but its key is not on the allow list
        o = c.outsider
        batch = valid_batch(o, c.swarm_id, c.window, f"hostile-{kind}-{c.tag}")
        key = record_key(c.swarm_id, c.window, shard_of(o.peer_id, c.num_shards))
        return [Injection(key, record_subkey(o.peer_id, 0), seal(batch, o, c.secret))]
    if kind == "resend_100":  # one valid record under 100 slots of our own subkey, all past the per-peer cap
        sealed = b.sealed(kind)
        return [Injection(b.key, record_subkey(b.me.peer_id, 10 + i), sealed) for i in range(100)]
    if kind == "resend_in_quota":  # one valid record under slots 1..3 of our own subkey (within the default cap of 4)
        sealed = b.sealed(kind)
        return [Injection(b.key, record_subkey(b.me.peer_id, i), sealed) for i in range(1, 4)]
    if kind == "flood_over_quota":  # T6: 50 distinct valid records in one window, in slots 0..49: the cap's worth pass
        return [Injection(b.key, record_subkey(b.me.peer_id, i), seal(b.batch(f"{kind}-{i}"), b.me, c.secret))
                for i in range(50)]
    raise KeyError(kind)


# class -> (reason counted by an honest receiver, records it must accept). Reasons as seen live with a
# private swarm and an allow list; "" means the record never reaches a receiver (the store fails).
CLASSES: dict[str, tuple[str, int]] = {
    "random_signature": ("bad_signature", 0),
    "other_subkey": ("subkey_mismatch", 0),
    "no_signature": ("no_signature", 0),
    "flipped_bit": ("bad_signature", 0),
    "replay_old_window": ("wrong_window", 0),
    "moved_window": ("wrong_window", 0),
    "moved_shard": ("wrong_window", 0),
    "future_window": ("wrong_window", 0),
    "oversize_direct": ("", 0),
    "oversize_2x": ("schema", 0),
    "oversize_100x": ("schema", 0),
    "malformed_truncated": ("malformed", 0),
    "malformed_wrong_types": ("schema", 0),
    "malformed_deep_nesting": ("malformed", 0),
    "malformed_huge_length": ("malformed", 0),
    "malformed_trailing": ("malformed", 0),
    "malformed_signed_body": ("malformed", 0),
    "schema_nan": ("schema", 0),
    "schema_inf": ("schema", 0),
    "schema_negative_index": ("schema", 0),
    "wrong_secret": ("wrong_secret", 0),
    "wrong_swarm": ("wrong_swarm", 0),
    "not_allowed": ("not_allowed", 0),
    "resend_100": ("over_quota", 0),  # refused by the storing replicas: slots 10.. are past the cap
    "resend_in_quota": ("duplicate", 1),
}
