"""Codec: round trips, every bound, version handling, and fuzzing that only ever yields ProtocolError."""

from __future__ import annotations

import math
import random
import time

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (PROTOCOL_VERSION, Completion, Identity, Limits, ProtocolError, RolloutGroup,
                      TaskRef, decode, encode)
from protocol.messages import RolloutBatch
from tests.unit.protocol_factories import make_announcement, make_batch

ME = Identity.from_seed(b"codec")


def _raw(msg) -> dict:
    return msgpack.unpackb(encode(msg), raw=False)


def _pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def test_round_trip_every_message() -> None:
    for msg in (make_batch(ME), make_announcement(ME), make_batch(ME, groups=0)):
        assert decode(encode(msg)) == msg


def test_free_task_round_trip() -> None:
    group = RolloutGroup(TaskRef("chat", {}, 0, 0, kind="free"), "Write a haiku", (Completion("...", 1, 0.0),))
    batch = make_batch(ME).__class__(**{**make_batch(ME).__dict__, "groups": (group,)})
    assert decode(encode(batch)).groups[0].task.kind == "free"


def test_encoding_is_canonical() -> None:
    a = make_batch(ME)
    b = RolloutBatch(**{**a.__dict__})
    assert encode(a) == encode(b)


@pytest.mark.parametrize(
    ("limits", "batch_kwargs", "field"),
    [
        (Limits(max_groups=1), {"groups": 2}, "groups"),
        (Limits(max_completions=2), {"completions": 3}, "c"),
        (Limits(max_text_chars=5), {"text": "x" * 10}, "text"),
        (Limits(max_record_bytes=100), {}, "bytes"),
    ],
)
def test_each_bound_is_enforced_and_named(limits: Limits, batch_kwargs: dict, field: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode(encode(make_batch(ME, **batch_kwargs)), limits)
    assert field in str(err.value)


def test_long_names_and_bad_numbers_are_refused() -> None:
    raw = _raw(make_batch(ME))
    raw["b"]["model"] = "m" * 10_000
    with pytest.raises(ProtocolError, match="model"):
        decode(_pack(raw))
    for bad in (math.nan, math.inf, -math.inf):
        raw = _raw(make_batch(ME))
        raw["b"]["groups"][0]["c"][0][2] = bad
        with pytest.raises(ProtocolError, match="not finite"):
            decode(_pack(raw))


@pytest.mark.parametrize("created", [0.0, -5.0, 1e12])
def test_insane_times_are_refused(created: float) -> None:
    raw = _raw(make_batch(ME))
    raw["b"]["created"] = created
    with pytest.raises(ProtocolError, match="created"):
        decode(_pack(raw))


def test_negative_index_and_wrong_types_are_refused() -> None:
    raw = _raw(make_batch(ME))
    raw["b"]["groups"][0]["task"]["i"] = -1
    with pytest.raises(ProtocolError, match="task.i"):
        decode(_pack(raw))
    raw = _raw(make_batch(ME))
    raw["b"]["window"] = "12"
    with pytest.raises(ProtocolError, match="window: expected int"):
        decode(_pack(raw))


@pytest.mark.parametrize("completion, expected", [
    (["7", 1, 1], Completion("7", 1, 1.0)),  # an int reward: read as a float, as before the inline check
    (["7", 1, 0.5, "extra"], Completion("7", 1, 0.5)),
    (["7", True, 1.0], "tokens: expected int"),
    (["7", -1, 1.0], "tokens: -1 outside"),
    (["7", 1, math.inf], "reward: not finite"),
    (["7", 1, True], "reward: expected a number"),
    ([b"7", 1, 1.0], "text: expected str"),
    ("7", "expected \\[text, token_count, reward\\]"),
])
def test_completions_off_the_common_shape_are_read_or_refused_by_field(completion, expected) -> None:
    """A completion of exact types within bounds is checked inline (`_fast_completion`); every other one gets the
    field-by-field reader, whose error names the completion and the field."""
    raw = _raw(make_batch(ME))
    raw["b"]["groups"][0]["c"][1] = completion
    if isinstance(expected, Completion):
        assert decode(_pack(raw)).groups[0].completions[1] == expected
    else:
        with pytest.raises(ProtocolError, match=f"groups\\[0\\].c\\[1\\].*{expected}"):
            decode(_pack(raw))


def test_newer_major_version_is_refused_clearly() -> None:
    raw = _raw(make_batch(ME))
    raw["v"] = [PROTOCOL_VERSION[0] + 1, 0]
    with pytest.raises(ProtocolError) as err:
        decode(_pack(raw))
    assert err.value.reason == "version" and "upgrade" in str(err.value)


def test_newer_minor_with_unknown_fields_is_read() -> None:
    raw = _raw(make_batch(ME))
    raw["v"] = [PROTOCOL_VERSION[0], PROTOCOL_VERSION[1] + 3]
    raw["b"]["future_field"] = {"anything": [1, 2]}
    raw["b"]["groups"][0]["task"]["hint"] = "new"
    msg = decode(_pack(raw))
    assert msg.version == (PROTOCOL_VERSION[0], PROTOCOL_VERSION[1] + 3)
    assert msg.groups == make_batch(ME).groups


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", encode(make_batch(ME))[:-3], encode(make_batch(ME)) + b"\x00", b"\x91" * 10_000 + b"\x00",
     b"\xdd\xff\xff\xff\xff", _pack([1, 2, 3]), _pack({"v": [1, 0], "t": "nope", "b": {}})],
    ids=["empty", "reserved", "truncated", "trailing", "deep", "huge-declared-length", "not-a-map", "unknown-type"],
)
def test_malformed_inputs_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_only_raise_protocol_error(data: bytes) -> None:
    try:
        decode(data)
    except ProtocolError:
        pass


_VALID = encode(make_batch(ME, groups=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_records_only_raise_protocol_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_VALID)
    for pos, value in edits:
        data[pos] = value
    try:
        decode(bytes(data))
    except ProtocolError:
        pass


def test_ten_thousand_mutations_in_seconds() -> None:
    rng = random.Random(0)
    start, outcomes = time.perf_counter(), {"ok": 0, "rejected": 0}
    for _ in range(10_000):
        data = bytearray(_VALID)
        for _ in range(rng.randint(1, 4)):
            if not data:
                data.append(rng.randrange(256))
            op = rng.random()
            if op < 0.6:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op < 0.8:
                del data[rng.randrange(len(data)):]
            else:
                data.insert(rng.randrange(len(data)), rng.randrange(256))
        try:
            decode(bytes(data))
            outcomes["ok"] += 1
        except ProtocolError:
            outcomes["rejected"] += 1
    elapsed = time.perf_counter() - start
    assert outcomes["rejected"] > 0
    assert elapsed < 20, f"10,000 mutated decodes took {elapsed:.1f} s"
