"""What hostile sybils (T7) answer: a `DHTProtocol` storage that keeps, drops or lies, as its crew's mode says.

All the sybils of one process form a `Crew`: they share one mode (switched for all at once by
`Crew.turn`) and pool every record any of them was given, as colluding sybils would. Each sybil's
`DHTProtocol.storage` is replaced by a `LyingStorage`; hivemind's ``rpc_store`` and ``rpc_find`` go
through it, so what a sybil keeps and what it answers a get with follow the mode:

    censor   accept every store ("stored"), keep nothing, answer every get with nothing
    honest   store and serve like any DHT node
    stale    keep what is stored, but answer a get of a record key, for each subkey the crew knows in
             that shard, with the oldest copy it ever saw (an older window's record, or the same
             record after it expired), under a far expiration so that it wins the reader's merge
    forge    keep what is stored, answer a get of a record key with forgeries under the subkeys the crew
             knows: the sybil's own signature on an honest body or on a batch naming the victim as
             sender, honest records with a flipped bit or their signature cut off, and its own records
             without the swarm secret; one kind per answer, in turn

    crew = Crew(KeyBook("chaos-bench", window_seconds=2.0, num_shards=2), mode="forge")
    node.protocol.storage = LyingStorage(crew, Identity.generate())

Parts (64-hex subkeys) and announcement keys are served from what is really stored in the lying
modes: the attack is on the rollout records.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgpack
from hivemind.dht.routing import DHTID
from hivemind.dht.storage import DHTLocalStorage, DictionaryDHTValue
from hivemind.utils import MSGPackSerializer, get_dht_time
from hivemind.utils.timed_storage import ValueWithExpiration

from protocol.codec import encode
from protocol.identity import Identity
from protocol.keys import record_key, record_subkey, subkey_owner, window_of
from tests.chaos.hostile import envelope, valid_batch

MODES = ("censor", "honest", "stale", "forge")
FORGERIES = ("own_key_on_victim_batch", "rewrapped_body", "flipped_bit", "cut_signature", "own_subkey_no_secret")
LIE_TTL_S = 600.0
"""Expiration given to lies: later than any honest copy, so a reader's merge keeps the lie."""


def _is_part(subkey: str) -> bool:
    return len(subkey) == 64 and all(c in "0123456789abcdef" for c in subkey)


@dataclass
class KeyBook:
    """Which record key (window, shard) a DHT key id is, for the windows around now (keys are public)."""

    swarm_id: str
    window_seconds: float
    num_shards: int
    _ids: dict[DHTID, tuple[int, int]] = field(default_factory=dict)
    _window: int | None = None

    def lookup(self, key_id: DHTID) -> tuple[int, int] | None:
        now = window_of(get_dht_time(), self.window_seconds)
        if now != self._window:
            self._window = now
            self._ids = {DHTID.generate(source=record_key(self.swarm_id, w, s)): (w, s)
                         for w in range(now - 5, now + 3) for s in range(self.num_shards)}
        return self._ids.get(key_id)


@dataclass
class Crew:
    """The sybils of one process: one mode for all, and every record any of them was given."""

    keys: KeyBook
    mode: str = "censor"
    oldest: dict[int, dict[str, tuple[int, bytes]]] = field(default_factory=dict)
    """shard -> subkey -> (window, value) of the oldest record seen under that subkey."""
    latest: dict[int, dict[str, bytes]] = field(default_factory=dict)
    """shard -> subkey -> the newest value seen (what forgeries are made from)."""
    storages: list["LyingStorage"] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: one of {MODES}")

    def turn(self, mode: str) -> str:
        """Every sybil switches to `mode` at once; turning to censor drops everything they hold."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: one of {MODES}")
        before, self.mode = self.mode, mode
        if mode == "censor":
            for storage in self.storages:
                storage.real.clear()
        self.counts[f"turned_to_{mode}"] += 1
        return before

    def remember(self, key_id: DHTID, subkey: Any, value: bytes) -> None:
        where = self.keys.lookup(key_id)
        if where is None or not isinstance(subkey, str) or _is_part(subkey):
            return
        window, shard = where
        known = self.oldest.setdefault(shard, {})
        if subkey not in known or window < known[subkey][0]:
            known[subkey] = (window, value)
        self.latest.setdefault(shard, {})[subkey] = value

    def stale(self, window: int, shard: int) -> ValueWithExpiration | None:
        """For each subkey known in `shard`: the oldest copy seen up to `window`, with a far expiration."""
        expiration = get_dht_time() + LIE_TTL_S
        copies = {sk: value for sk, (w, value) in self.oldest.get(shard, {}).items() if w <= window}
        if not copies:
            return None
        lie = DictionaryDHTValue()
        for subkey, value in copies.items():
            lie.store(subkey, value, expiration)
        self.counts["stale_answers"] += 1
        self.counts["stale_records"] += len(copies)
        return ValueWithExpiration(lie, expiration)


class LyingStorage:
    """Stands in for `DHTProtocol.storage`: the real `DHTLocalStorage`, or lies, as the crew's mode says."""

    def __init__(self, crew: Crew, identity: Identity) -> None:
        self.real, self.crew, self.identity = DHTLocalStorage(), crew, identity
        self._forged: dict[tuple[int, int, str, int], dict[str, bytes]] = {}
        crew.storages.append(self)

    def __getattr__(self, name: str) -> Any:  # items, freeze, ... of the real storage
        return getattr(self.real, name)

    def store(self, key_id: DHTID, value: bytes, expiration_time: float, subkey: Any = None) -> bool:
        if subkey is not None:
            return self.store_subkey(key_id, subkey, value, expiration_time)
        if self.crew.mode == "censor":
            self.crew.counts["stores_dropped"] += 1
            return True
        return self.real.store(key_id, value, expiration_time)

    def store_subkey(self, key_id: DHTID, subkey: Any, value: bytes, expiration_time: float) -> bool:
        if self.crew.mode == "censor":
            self.crew.counts["stores_dropped"] += 1
            return True  # "stored", and nothing kept
        self.crew.counts["stores_kept"] += 1
        self.crew.remember(key_id, subkey, value)
        return self.real.store_subkey(key_id, subkey, value, expiration_time)

    def get(self, key_id: DHTID) -> ValueWithExpiration | None:
        mode = self.crew.mode
        self.crew.counts[f"gets_{mode}"] += 1
        if mode == "censor":
            return None
        where = self.crew.keys.lookup(key_id) if mode in ("stale", "forge") else None
        if where is not None:
            lie = self.crew.stale(*where) if mode == "stale" else self.forge(*where)
            if lie is not None:
                return lie
        return self.real.get(key_id)

    # ------------------------------------------------------------ forgeries

    def forge(self, window: int, shard: int) -> ValueWithExpiration | None:
        """Forged records for the record key (window, shard): one kind per answer, in turn."""
        kind = FORGERIES[self.crew.counts["forged_answers"] % len(FORGERIES)]
        victims = self.crew.latest.get(shard, {})
        cache_key = (window, shard, kind, len(victims))
        if cache_key not in self._forged:
            if len(self._forged) > 64:
                self._forged.clear()
            self._forged[cache_key] = self._make(kind, window, victims)
        forged = self._forged[cache_key]
        if not forged:
            return None
        expiration = get_dht_time() + LIE_TTL_S
        lie = DictionaryDHTValue()
        for subkey, value in forged.items():
            lie.store(subkey, value, expiration)
        self.crew.counts["forged_answers"] += 1
        self.crew.counts[f"forged_{kind}"] += len(forged)
        return ValueWithExpiration(lie, expiration)

    def _make(self, kind: str, window: int, victims: dict[str, bytes]) -> dict[str, bytes]:
        """Forged DHT values (msgpack of a sealed record, as hivemind stores them) by subkey."""
        me, swarm_id = self.identity, self.crew.keys.swarm_id
        if kind == "own_subkey_no_secret" or not victims:
            batch = valid_batch(me, swarm_id, window, f"forged-{window}")
            return {record_subkey(me.peer_id, 0): _wrap(envelope(encode(batch), me, None))}
        out = {}
        for subkey, value in victims.items():
            honest = _unwrap(value)
            if honest is None:
                continue
            if kind == "own_key_on_victim_batch":  # a batch naming the victim as sender, signed by us
                batch = dataclasses.replace(valid_batch(me, swarm_id, window, f"forged-{window}"), sender=subkey_owner(subkey))
                forged = msgpack.unpackb(envelope(encode(batch), me, None), raw=False)
            elif kind == "rewrapped_body":  # the victim's own body and tag under our key and signature
                forged = {**msgpack.unpackb(envelope(honest["body"], me, None), raw=False),
                          **{k: v for k, v in honest.items() if k not in ("pub", "sig")}}
            elif kind == "flipped_bit":
                body = bytearray(honest["body"])
                body[len(body) // 2] ^= 0x01
                forged = {**honest, "body": bytes(body)}
            else:  # cut_signature
                forged = {**honest, "sig": b""}
            out[subkey] = _wrap(msgpack.packb(forged, use_bin_type=True))
        return out


def _wrap(sealed: bytes) -> bytes:
    """A sealed record as a DHT value (hivemind msgpacks every value it stores)."""
    return MSGPackSerializer.dumps(sealed)


def _unwrap(value: bytes) -> dict | None:
    """The envelope fields of a DHT value holding a sealed record, or None if it holds something else."""
    try:
        honest = msgpack.unpackb(MSGPackSerializer.loads(value), raw=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    if not isinstance(honest, dict) or not isinstance(honest.get("body"), bytes):
        return None
    return honest
