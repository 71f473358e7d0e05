"""Bounds on everything a peer can send. Over a bound: reject with `ProtocolError`, never truncate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_record_bytes: int = 8 * 1024 * 1024
    """Bytes of one encoded record (a whole batch, before chunking)."""
    max_inline_record_bytes: int = 64 * 1024
    """Bytes of one record stored or pushed whole, under a record key. A bigger batch travels as
    content-addressed parts plus a small signed index (`protocol.parts`), so a read of a record key or a
    push carries at most this per record, whatever an admitted peer sends."""
    max_groups: int = 256
    """Rollout groups per batch."""
    max_completions: int = 64
    """Completions per group."""
    max_text_chars: int = 32_768
    """Characters of one question or completion."""
    max_name_chars: int = 256
    """Characters of ids, names, model and hardware strings."""
    max_config_items: int = 32
    """Entries of a TaskRef's generator config."""
    max_addresses: int = 16
    """Listen addresses in one announcement."""
    max_index: int = 2**40
    """Largest task seed or index."""
    min_time: float = 1_577_836_800.0
    """Earliest plausible timestamp (2020-01-01)."""
    max_time: float = 4_102_444_800.0
    """Latest plausible timestamp (2100-01-01)."""


DEFAULT_LIMITS = Limits()
