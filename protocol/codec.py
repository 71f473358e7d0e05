"""msgpack codec for protocol messages: versioned, strictly typed, bounded.

Wire shape of every message: ``{"v": [major, minor], "t": <type tag>, "b": {<fields>}}``. Encoding is
canonical (fixed field order, no floats where ints belong), so the bytes can be signed. Decoding
checks every type and bound *before* a message object is built; any failure is one
`ProtocolError` whose text names the field and the bound.

    >>> from protocol.messages import PeerAnnouncement
    >>> msg = PeerAnnouncement("p1", "tiny", "cpu", "0.1.0", ("/ip4/127.0.0.1/tcp/1",), 1.7e9)
    >>> decode(encode(msg)) == msg
    True

Reference: hivemind `utils/serializer.py` (one small object, dumps/loads).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import msgpack

from protocol.errors import ProtocolError
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import (
    PROTOCOL_VERSION,
    Completion,
    Message,
    PeerAnnouncement,
    RolloutBatch,
    RolloutGroup,
    TaskRef,
)
from protocol.versions import package_version, upgrade_hint

_TAG_BATCH = "batch"
_TAG_ANNOUNCE = "announce"


# ---------------------------------------------------------------- encoding (trusted input)


def _task_to_wire(t: TaskRef) -> dict[str, Any]:
    return {"g": t.generator, "c": dict(sorted(t.config.items())), "s": t.seed, "i": t.index, "k": t.kind}


def _group_to_wire(g: RolloutGroup) -> dict[str, Any]:
    return {
        "task": _task_to_wire(g.task),
        "q": g.question,
        "c": [[c.text, c.token_count, float(c.sender_reward)] for c in g.completions],
    }


def _body(msg: Message) -> tuple[str, dict[str, Any]]:
    if isinstance(msg, RolloutBatch):
        body = {
            "swarm": msg.swarm_id,
            "sender": msg.sender,
            "model": msg.model,
            "created": float(msg.created_at),
            "window": msg.window,
            "id": msg.batch_id,
            "groups": [_group_to_wire(g) for g in msg.groups],
        }
        if msg.round is not None:  # 1.2; left out when unknown, so such a batch encodes as in 1.1
            body["round"] = msg.round
        return _TAG_BATCH, body
    if isinstance(msg, PeerAnnouncement):
        return _TAG_ANNOUNCE, {
            "peer": msg.peer_id,
            "model": msg.model,
            "hw": msg.hardware,
            "sw": msg.software_version,
            "addrs": list(msg.addresses),
            "time": float(msg.time),
            "swarm": msg.swarm_id,
            "window": msg.window,
        }
    raise TypeError(f"cannot encode {type(msg).__name__}")


def encode(msg: Message) -> bytes:
    """Canonical msgpack bytes of a message (the bytes that get signed)."""
    tag, body = _body(msg)
    return msgpack.packb({"v": list(msg.version), "t": tag, "b": body}, use_bin_type=True)


# ---------------------------------------------------------------- decoding (untrusted input)


class _Reader:
    """Typed field access on an untrusted mapping; every failure names the field and the bound."""

    def __init__(self, data: Any, where: str, limits: Limits) -> None:
        if not isinstance(data, dict):
            raise ProtocolError("schema", f"{where}: expected a map, got {type(data).__name__}")
        self.data, self.where, self.limits = data, where, limits

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise ProtocolError("schema", f"{self.where}.{key}: missing")
        return self.data[key]

    def str(self, key: str, max_chars: int | None = None) -> str:
        value, bound = self._get(key), max_chars or self.limits.max_name_chars
        if not isinstance(value, str):
            raise ProtocolError("schema", f"{self.where}.{key}: expected str, got {type(value).__name__}")
        if len(value) > bound:
            raise ProtocolError("schema", f"{self.where}.{key}: {len(value)} chars > max {bound}")
        return value

    def int(self, key: str, lo: int = 0, hi: int | None = None) -> int:
        value, hi = self._get(key), self.limits.max_index if hi is None else hi
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError("schema", f"{self.where}.{key}: expected int, got {type(value).__name__}")
        if not lo <= value <= hi:
            raise ProtocolError("schema", f"{self.where}.{key}: {value} outside [{lo}, {hi}]")
        return value

    def float(self, key: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        value = self._get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ProtocolError("schema", f"{self.where}.{key}: expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ProtocolError("schema", f"{self.where}.{key}: not finite")
        if not lo <= value <= hi:
            raise ProtocolError("schema", f"{self.where}.{key}: {value} outside [{lo}, {hi}]")
        return float(value)

    def time(self, key: str) -> float:
        return self.float(key, self.limits.min_time, self.limits.max_time)

    def list(self, key: str, max_items: int) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise ProtocolError("schema", f"{self.where}.{key}: expected a list, got {type(value).__name__}")
        if len(value) > max_items:
            raise ProtocolError("schema", f"{self.where}.{key}: {len(value)} items > max {max_items}")
        return value

    def child(self, key: str) -> "_Reader":
        return _Reader(self._get(key), f"{self.where}.{key}", self.limits)


def _read_config(r: _Reader) -> dict[str, Any]:
    raw = r._get("c")
    if not isinstance(raw, dict) or len(raw) > r.limits.max_config_items:
        raise ProtocolError("schema", f"{r.where}.c: expected a map of <= {r.limits.max_config_items} scalars")
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > r.limits.max_name_chars:
            raise ProtocolError("schema", f"{r.where}.c: bad key {key!r:.40}")
        if isinstance(value, str) and len(value) <= r.limits.max_name_chars:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ProtocolError("schema", f"{r.where}.c.{key}: not finite")
        if value is not None and not isinstance(value, (bool, int, float)):
            raise ProtocolError("schema", f"{r.where}.c.{key}: expected a scalar")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > r.limits.max_index:
            raise ProtocolError("schema", f"{r.where}.c.{key}: |{value}| > {r.limits.max_index}")
    return dict(raw)


def _read_task(r: _Reader) -> TaskRef:
    kind = r.str("k")
    if kind not in ("rebuildable", "free"):
        raise ProtocolError("schema", f"{r.where}.k: {kind!r} not in ('rebuildable', 'free')")
    return TaskRef(generator=r.str("g"), config=_read_config(r), seed=r.int("s"), index=r.int("i"), kind=kind)


def _read_completion(raw: Any, where: str, limits: Limits) -> Completion:
    if not isinstance(raw, list) or len(raw) < 3:
        raise ProtocolError("schema", f"{where}: expected [text, token_count, reward]")
    r = _Reader({"text": raw[0], "tokens": raw[1], "reward": raw[2]}, where, limits)
    return Completion(r.str("text", limits.max_text_chars), r.int("tokens", 0, 10 * limits.max_text_chars), r.float("reward"))


def _fast_completion(raw: Any, limits: Limits) -> Completion | None:
    """`_read_completion` for the common case (exact types, within bounds), checked inline: a batch holds hundreds
    of completions. None for anything else, which `_read_completion` then refuses with the field named."""
    if type(raw) is list and len(raw) >= 3:
        text, tokens, reward = raw[0], raw[1], raw[2]
        if (type(text) is str and len(text) <= limits.max_text_chars and type(tokens) is int
                and 0 <= tokens <= 10 * limits.max_text_chars and type(reward) is float and math.isfinite(reward)):
            return Completion(text, tokens, reward)
    return None


def _read_group(r: _Reader) -> RolloutGroup:
    raw = r.list("c", r.limits.max_completions)
    if not raw:
        raise ProtocolError("schema", f"{r.where}.c: empty group")
    completions = tuple(_fast_completion(c, r.limits) or _read_completion(c, f"{r.where}.c[{i}]", r.limits)
                        for i, c in enumerate(raw))
    return RolloutGroup(task=_read_task(r.child("task")), question=r.str("q", r.limits.max_text_chars), completions=completions)


def _read_batch(r: _Reader, version: tuple[int, int]) -> RolloutBatch:
    groups = r.list("groups", r.limits.max_groups)
    return RolloutBatch(
        swarm_id=r.str("swarm"),
        sender=r.str("sender"),
        model=r.str("model"),
        created_at=r.time("created"),
        window=r.int("window"),
        batch_id=r.str("id"),
        groups=tuple(_read_group(_Reader(g, f"groups[{i}]", r.limits)) for i, g in enumerate(groups)),
        round=r.int("round") if "round" in r.data else None,
        version=version,
    )


def _read_announcement(r: _Reader, version: tuple[int, int]) -> PeerAnnouncement:
    addrs = r.list("addrs", r.limits.max_addresses)
    return PeerAnnouncement(
        peer_id=r.str("peer"),
        model=r.str("model"),
        hardware=r.str("hw"),
        software_version=r.str("sw"),
        addresses=tuple(_Reader({"a": a}, f"addrs[{i}]", r.limits).str("a", 1024) for i, a in enumerate(addrs)),
        time=r.time("time"),
        swarm_id=r.str("swarm"),
        window=r.int("window"),
        version=version,
    )


_READERS: dict[str, Callable[[_Reader, tuple[int, int]], Message]] = {
    _TAG_BATCH: _read_batch,
    _TAG_ANNOUNCE: _read_announcement,
}


def unpack_bounded(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """msgpack bytes -> Python values, with byte, length and nesting caps; `ProtocolError` on failure."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError("malformed", f"expected bytes, got {type(data).__name__}")
    if len(data) > limits.max_record_bytes:
        raise ProtocolError("too_large", f"{len(data)} bytes > max {limits.max_record_bytes}")
    cap = limits.max_record_bytes
    try:
        return msgpack.unpackb(
            bytes(data), raw=False, strict_map_key=True, use_list=True,
            max_str_len=cap, max_bin_len=cap, max_array_len=max(limits.max_groups, limits.max_completions, 16) * 4,
            max_map_len=max(64, limits.max_config_items * 2), max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, RecursionError) as exc:
        raise ProtocolError("malformed", f"not a valid msgpack record ({type(exc).__name__}: {exc})"[:200]) from None


def check_version(raw: Any, where: str = "record", sender_package: str | None = None) -> tuple[int, int]:
    """Read and check a ``[major, minor]`` version. Another major is refused (``version``, with what to install:
    `protocol.versions.upgrade_hint`); any minor of our major is read, its unknown fields ignored."""
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        raise ProtocolError("schema", f"{where}.v: expected [major, minor]")
    major, minor = raw
    if major != PROTOCOL_VERSION[0]:
        hint = upgrade_hint((major, minor), sender_package, PROTOCOL_VERSION, package_version())
        raise ProtocolError("version", f"{where}: {hint}")
    return major, minor


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Untrusted bytes -> a message, or `ProtocolError` naming the field and bound that failed."""
    top = _Reader(unpack_bounded(data, limits), "record", limits)
    version = check_version(top._get("v"))
    tag = top.str("t")
    if tag not in _READERS:
        raise ProtocolError("schema", f"record.t: unknown message type {tag!r:.40}")
    return _READERS[tag](top.child("b"), version)
