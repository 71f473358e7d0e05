"""Store-side check in the DHT: storing peers refuse records that are not signed by their subkey.

Plugged into ``DHTNode.create(record_validator=...)``, so hivemind calls `validate` when another peer
asks us to store a record and when a peer returns one to our get. A record under subkey S must be a
sealed envelope signed by the key whose peer id is S (and tagged with the swarm secret in a private
swarm, with an encrypted body); a part (subkey = 64 hex chars) must hash to its subkey. Forged
overwrites under someone else's subkey are thus refused by every honest replica, not only by readers.
Replicas also refuse what every reader would refuse anyway, so it never takes DHT space: a record
under a slot at or past the per-peer cap (subkey ``<peer id>.<slot>``, slot >= ``max_slots``:
"over_quota"), in a closed swarm, a record whose signer is not on the allow list ("not_allowed"), a
record stored whole over `Limits.max_inline_record_bytes` ("too_large": bigger ones travel as parts, so
a read of a record key stays small, whatever an admitted peer stores), and a record that expires
further ahead of this node's swarm clock than a record published now could ("future_window"): a node
with its clock minutes ahead would otherwise plant records that wait in the DHT until their window
comes and are then read as current.
Replicas see keys only as hashes (hivemind's DHTID), so the rules that name a key, a record or an
announcement under its signer's own shard and window (``protocol.keys``: ``.../s<shard>``, ``.../a<shard>``),
are the readers' (`swarm.transports.receiver`); what a replica checks is the same for every key.
Signature and tag are checked on the body as sent, never decrypted here (`protocol.envelope`). The
envelope checks are `RecordVerifier.check_envelope`, the very method every receiver applies
(`swarm.transports.receiver`). Each refusal is reported to ``report``, normally the transport's
`RejectionLog` (counted; logged bounded and escaped), as unauthenticated: nothing here verified its signer
before the check that failed. `build_record_validator` builds the validator of every replica we run, a
node's and a bootstrap peer's alike, from the swarm's `TransportConfig`.

    validator = build_record_validator(config, clock=swarm_clock, report=transport.rejection_log)
    node = await start_dht_node(config, validator)

Reference: hivemind `dht/validation.py` (RecordValidatorBase) and `dht/crypto.py`.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any, Callable

import msgpack
from hivemind.dht.validation import DHTRecord, RecordValidatorBase

from protocol.errors import ProtocolError
from protocol.keys import subkey_owner
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.printable import peer_text
from protocol.validation import RecordVerifier
from swarm.transports.config import TransportConfig
from swarm.transports.receiver import build_verifier
from swarm.transports.rejections import RejectionSink

logger = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdef")
_CACHE = 4096
"""Records remembered as valid (or as refused): a get returns the same records from several replicas and polls."""


def _unpack(raw: bytes) -> Any:
    try:
        return msgpack.unpackb(raw, raw=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None


class SignedRecordValidator(RecordValidatorBase):
    """Accepts only values signed by their subkey's owner, or parts named by their own sha256."""

    def __init__(
        self,
        swarm_secret: bytes | None = None,
        limits: Limits = DEFAULT_LIMITS,
        report: RejectionSink | None = None,
        *,
        max_slots: int | None = None,
        allowed_peers: frozenset[str] | None = None,
        clock: Callable[[], float] | None = None,
        max_expiration_ahead_s: float | None = None,
        verifier: RecordVerifier | None = None,
    ) -> None:
        """``max_slots``: the per-peer cap of records per window (`TransportConfig.max_records_per_peer_per_window`),
        None for no cap; ``allowed_peers``: the swarm's allow list, None for an open swarm; ``clock`` (swarm
        time) and ``max_expiration_ahead_s``: the latest expiration accepted is ``clock() + max_expiration_ahead_s``
        (the record TTL plus the tolerated clock skew), None for no limit. ``verifier``: the envelope checks
        (default: built from the secret, limits, slot cap and allow list given here)."""
        self.verifier = verifier or RecordVerifier("", swarm_secret, allowed_peers, limits=limits, max_slots=max_slots)
        self.limits, self.report = self.verifier.limits, report
        self.clock, self.max_expiration_ahead_s = clock, max_expiration_ahead_s
        self._valid: OrderedDict[bytes, None] = OrderedDict()
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        """Records already refused: refused again without being reported, so each is counted once."""

    def validate(self, record: DHTRecord) -> bool:
        """Called by hivemind for each record a peer asks us to store or returns to our get."""
        if self.clock is not None and self.max_expiration_ahead_s is not None:
            ahead = record.expiration_time - self.clock()
            if ahead > self.max_expiration_ahead_s:  # before the caches: they do not key on the expiration
                owner = _unpack(record.subkey)
                return self._refuse(subkey_owner(owner) if isinstance(owner, str) else "?", "future_window",
                                    f"expires {ahead:.0f} s ahead (at most {self.max_expiration_ahead_s:.0f} s)")
        digest = hashlib.blake2b(record.subkey + b"\x00" + record.value, digest_size=16).digest()
        if digest in self._valid:
            self._valid.move_to_end(digest)
            return True
        if digest in self._refused:
            return False
        ok = self._check(record)
        cache = self._valid if ok else self._refused
        cache[digest] = None
        if len(cache) > _CACHE:
            cache.popitem(last=False)
        return ok

    def _check(self, record: DHTRecord) -> bool:
        subkey, value = _unpack(record.subkey), _unpack(record.value)
        if not isinstance(subkey, str) or not isinstance(value, bytes):
            return self._refuse(str(subkey)[:64], "malformed", f"value of type {type(value).__name__}")
        if len(subkey) == 64 and set(subkey) <= _HEX:
            ok = hashlib.sha256(value).hexdigest() == subkey
            return ok or self._refuse("?", "incomplete", f"part content does not hash to {subkey[:12]}")
        try:
            envelope = self.verifier.open_inline(value)  # bulk travels as parts: a read of a record key stays small
        except ProtocolError as exc:
            return self._refuse(subkey_owner(subkey), exc.reason, exc.detail)
        verdict = self.verifier.check_envelope(envelope, subkey)
        if verdict is not None:
            return self._refuse(verdict.signer, verdict.reason, f"DHT store-side check ({verdict.detail})")
        return True

    def _refuse(self, claimed: str, reason: str, detail: str) -> bool:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("refused a DHT record claimed by %s: %s (%s)", peer_text(claimed), reason, peer_text(detail, quote=False))
        if self.report is not None:
            self.report(reason, detail, claimed=claimed)
        return False


def build_record_validator(config: TransportConfig, clock: Callable[[], float],
                           report: RejectionSink | None = None) -> SignedRecordValidator:
    """The store-side validator of a swarm: what every replica we run applies, a node's or a bootstrap peer's.
    ``clock``: the replica's swarm time, for the bound on expirations (record TTL + a window + tolerated skew)."""
    ahead = (config.record_ttl_windows + 1) * config.window_seconds + config.max_clock_skew_s
    return SignedRecordValidator(report=report, clock=clock, max_expiration_ahead_s=ahead, verifier=build_verifier(config))
