"""Store-side check in the DHT: storing peers refuse records that are not signed by their subkey.

Plugged into ``DHTNode.create(record_validator=...)``, so hivemind calls `validate` when another peer
asks us to store a record and when a peer returns one to our get. A record under subkey S must be a
sealed envelope signed by the key whose peer id is S (and tagged with the swarm secret in a private
swarm); a part (subkey = 64 hex chars) must hash to its subkey. Forged overwrites under someone
else's subkey are thus refused by every honest replica, not only by readers.

Reference: hivemind `dht/validation.py` (RecordValidatorBase) and `dht/crypto.py`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import msgpack
from hivemind.dht.validation import DHTRecord, RecordValidatorBase

from protocol.envelope import open_envelope
from protocol.errors import ProtocolError
from protocol.limits import DEFAULT_LIMITS, Limits

logger = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdef")


def _unpack(raw: bytes) -> Any:
    try:
        return msgpack.unpackb(raw, raw=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None


class SignedRecordValidator(RecordValidatorBase):
    """Accepts only values signed by their subkey's owner, or parts named by their own sha256."""

    def __init__(self, swarm_secret: bytes | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self.swarm_secret, self.limits = swarm_secret, limits

    def validate(self, record: DHTRecord) -> bool:
        """Called by hivemind for each record a peer asks us to store or returns to our get."""
        subkey, value = _unpack(record.subkey), _unpack(record.value)
        if not isinstance(subkey, str) or not isinstance(value, bytes):
            logger.debug("refused a record: subkey %r / value of type %s", subkey, type(value).__name__)
            return False
        if len(subkey) == 64 and set(subkey) <= _HEX:
            return hashlib.sha256(value).hexdigest() == subkey
        try:
            envelope = open_envelope(value, self.limits)
        except ProtocolError as exc:
            logger.debug("refused a record under %s: %s", subkey, exc)
            return False
        if envelope.signer != subkey:
            logger.debug("refused a record signed by %s under subkey %s", envelope.signer, subkey)
            return False
        if self.swarm_secret and not envelope.tag_ok(self.swarm_secret):
            logger.debug("refused a record from %s: wrong swarm secret", subkey)
            return False
        return envelope.signature_ok()
