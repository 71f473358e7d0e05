"""Deciding whether a received record is trusted: small validators, applied in order.

Each validator has one job and returns `None` (pass) or a reason code from `protocol.errors.REASONS`.
`RecordVerifier` applies the envelope validators, decodes the body, then the message validators,
and returns a `Verdict`; it never raises on peer input.

    >>> from protocol.identity import Identity
    >>> from protocol.envelope import seal
    >>> from protocol.messages import PeerAnnouncement
    >>> me = Identity.generate()
    >>> verifier = RecordVerifier(swarm_id="")
    >>> verifier.verify(seal(PeerAnnouncement(me.peer_id, "m", "cpu", "0", (), 1.7e9), me)).accepted
    True

References: hivemind `dht/validation.py` (RecordValidatorBase, CompositeValidator) and
`dht/crypto.py` (early return with a reason per way to fail).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from protocol.codec import decode
from protocol.envelope import Envelope, open_envelope
from protocol.errors import ProtocolError
from protocol.keys import subkey_owner
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import Message, PeerAnnouncement, RolloutBatch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """A record as it arrived, with where it was found (for key checks)."""

    envelope: Envelope
    message: Message | None = None
    subkey: str | None = None
    """The DHT subkey it was stored under, when it came from the DHT."""
    window: int | None = None
    """The time window of the DHT key it was stored under."""


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str = ""
    detail: str = ""
    message: Message | None = None
    signer: str = ""


class Validator(Protocol):
    def validate(self, record: Received) -> str | None:
        """Called once per received record, after the previous validators passed."""


# ---------------------------------------------------------------- envelope validators


class SwarmSecretValidator:
    """Private swarms: the record's tag must be the HMAC under the shared secret."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def validate(self, record: Received) -> str | None:
        if not record.envelope.tag_ok(self.secret):
            logger.debug("wrong or missing swarm tag from %s", record.envelope.signer)
            return "wrong_secret"
        return None


class SignatureValidator:
    """The body must be signed by the envelope's public key."""

    def validate(self, record: Received) -> str | None:
        return None if record.envelope.signature_ok() else "bad_signature"


class AllowListValidator:
    """Closed testnets: only listed peer ids may write."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def validate(self, record: Received) -> str | None:
        return None if record.envelope.signer in self.allowed else "not_allowed"


class SubkeyValidator:
    """A record signed by key K may only sit under K's subkeys (K's peer id, optionally ".slot")."""

    def validate(self, record: Received) -> str | None:
        if record.subkey is not None and subkey_owner(record.subkey) != record.envelope.signer:
            return "subkey_mismatch"
        return None


# ---------------------------------------------------------------- message validators


class SenderValidator:
    """The message's own sender id must be the signer's peer id."""

    def validate(self, record: Received) -> str | None:
        msg, signer = record.message, record.envelope.signer
        claimed = msg.sender if isinstance(msg, RolloutBatch) else getattr(msg, "peer_id", signer)
        return None if claimed == signer else "sender_mismatch"


class SwarmIdValidator:
    def __init__(self, swarm_id: str) -> None:
        self.swarm_id = swarm_id

    def validate(self, record: Received) -> str | None:
        return None if getattr(record.message, "swarm_id", self.swarm_id) == self.swarm_id else "wrong_swarm"


class WindowValidator:
    """A batch must sit under its own window, which must be near the receiver's current window."""

    def __init__(self, current_window: "WindowClock", max_age: int, max_ahead: int) -> None:
        self.current_window, self.max_age, self.max_ahead = current_window, max_age, max_ahead

    def validate(self, record: Received) -> str | None:
        msg = record.message
        if not isinstance(msg, (RolloutBatch, PeerAnnouncement)):
            return None
        if record.window is not None and msg.window != record.window:
            return "wrong_window"
        now = self.current_window()
        if msg.window < now - self.max_age:
            return "stale_window"
        if msg.window > now + self.max_ahead:
            return "future_window"
        return None


class WindowClock(Protocol):
    def __call__(self) -> int:
        """The receiver's current time window."""


# ---------------------------------------------------------------- composite


@dataclass
class RecordVerifier:
    """Applies every check to raw bytes and returns a `Verdict`; counts nothing itself."""

    swarm_id: str
    swarm_secret: bytes | None = None
    allowed_peers: frozenset[str] | None = None
    window_clock: WindowClock | None = None
    max_window_age: int = 3
    max_window_ahead: int = 1
    limits: Limits = DEFAULT_LIMITS
    envelope_validators: list[Validator] = field(init=False)
    message_validators: list[Validator] = field(init=False)

    def __post_init__(self) -> None:
        self.envelope_validators = [SubkeyValidator()]
        if self.swarm_secret:
            self.envelope_validators.append(SwarmSecretValidator(self.swarm_secret))
        if self.allowed_peers is not None:
            self.envelope_validators.append(AllowListValidator(self.allowed_peers))
        self.envelope_validators.append(SignatureValidator())
        self.message_validators = [SenderValidator(), SwarmIdValidator(self.swarm_id)]
        if self.window_clock is not None:
            self.message_validators.append(WindowValidator(self.window_clock, self.max_window_age, self.max_window_ahead))

    def verify(self, data: bytes, *, subkey: str | None = None, window: int | None = None) -> Verdict:
        try:
            envelope = open_envelope(data, self.limits)
        except ProtocolError as exc:
            return Verdict(False, exc.reason, exc.detail)
        record = Received(envelope, None, subkey, window)
        verdict = _apply(self.envelope_validators, record)
        if verdict is not None:
            return verdict
        try:  # decrypted only now: tag and signature of the body as sent have passed
            record = Received(envelope, decode(self.plaintext(envelope), self.limits), subkey, window)
        except ProtocolError as exc:
            return Verdict(False, exc.reason, exc.detail, signer=envelope.signer)
        return _apply(self.message_validators, record) or Verdict(True, message=record.message, signer=envelope.signer)

    def plaintext(self, envelope: Envelope) -> bytes:
        """The encoded message of an envelope whose envelope checks passed (decrypted in a private swarm);
        `ProtocolError` ``not_encrypted`` or ``wrong_secret`` when its encryption does not match this swarm."""
        return envelope.plaintext(self.swarm_secret)


def _apply(validators: Sequence[Validator], record: Received) -> Verdict | None:
    for validator in validators:
        reason = validator.validate(record)
        if reason is not None:
            logger.debug("%s rejected a record from %s: %s", type(validator).__name__, record.envelope.signer, reason)
            return Verdict(False, reason, type(validator).__name__, signer=record.envelope.signer)
    return None
