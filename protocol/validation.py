"""Deciding whether a received record is trusted: small validators, applied in order.

Each validator has one job and returns `None` (pass) or a reason code from `protocol.errors.REASONS`.
`RecordVerifier` applies the envelope validators, decodes the body, then the message validators,
and returns a `Verdict`; it never raises on peer input. Its `check_envelope` is the one envelope check
of the code base: receivers (`swarm.transports.receiver`) and storing DHT replicas
(`swarm.transports.hivemind.dht_validator`) both call it, so a replica refuses exactly what every
reader would refuse on the envelope alone.

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
from protocol.keys import subkey_owner, subkey_slot
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.messages import Message, PeerAnnouncement, RolloutBatch
from protocol.parts import check_inline

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
    """The envelope's signer: verified when `verified`, else only the peer id the record claims."""
    verified: bool = False
    """True once the envelope checks (signature included) passed: ``signer`` is then authenticated."""


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


class EncryptedBodyValidator:
    """Private swarms: the body must be encrypted (a clear body is a protocol 1.0 sender, or a leak)."""

    def validate(self, record: Received) -> str | None:
        return None if record.envelope.encrypted else "not_encrypted"


class SlotValidator:
    """A record subkey's slot (``<peer id>.<slot>``) is a decimal number below the per-peer cap per window
    (``max_slots``, None for no cap): ``<peer>.a``, ``<peer>.b``, ... would otherwise dodge the cap."""

    def __init__(self, max_slots: int | None) -> None:
        self.max_slots = max_slots

    def validate(self, record: Received) -> str | None:
        if record.subkey is None:
            return None
        slot = subkey_slot(record.subkey)
        if slot is None:
            return "schema" if "." in record.subkey else None
        return "over_quota" if self.max_slots is not None and slot >= self.max_slots else None


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
    max_slots: int | None = None
    """Records per peer per window (`SlotValidator`); None: slots are not capped."""
    envelope_validators: list[Validator] = field(init=False)
    message_validators: list[Validator] = field(init=False)

    def __post_init__(self) -> None:
        # Cheap checks first; the signature (the one costly check) last.
        self.envelope_validators = [SubkeyValidator()]
        if self.swarm_secret:
            self.envelope_validators += [SwarmSecretValidator(self.swarm_secret), EncryptedBodyValidator()]
        if self.allowed_peers is not None:
            self.envelope_validators.append(AllowListValidator(self.allowed_peers))
        self.envelope_validators += [SlotValidator(self.max_slots), SignatureValidator()]
        self.message_validators = [SenderValidator(), SwarmIdValidator(self.swarm_id)]
        if self.window_clock is not None:
            self.message_validators.append(WindowValidator(self.window_clock, self.max_window_age, self.max_window_ahead))

    def verify(self, data: bytes, *, subkey: str | None = None, window: int | None = None) -> Verdict:
        """Every check of one sealed record found under (window, subkey): envelope, then decoded message."""
        try:
            envelope = open_envelope(data, self.limits)
        except ProtocolError as exc:
            return Verdict(False, exc.reason, exc.detail)
        verdict = self.check_envelope(envelope, subkey)
        if verdict is not None:
            return verdict
        try:  # decrypted only now: tag and signature of the body as sent have passed
            record = Received(envelope, decode(self.plaintext(envelope), self.limits), subkey, window)
        except ProtocolError as exc:
            return Verdict(False, exc.reason, exc.detail, signer=envelope.signer, verified=True)
        return _apply(self.message_validators, record, verified=True) or Verdict(
            True, message=record.message, signer=envelope.signer, verified=True)

    def open_inline(self, value: bytes) -> Envelope:
        """A record stored or pushed whole, opened (not yet trusted): `ProtocolError` ``too_large`` past
        `Limits.max_inline_record_bytes` (bigger ones travel as parts), or the reason it cannot be read."""
        check_inline(value, self.limits)
        return open_envelope(value, self.limits)

    def check_envelope(self, envelope: Envelope, subkey: str | None = None) -> Verdict | None:
        """The envelope checks, in order: subkey == signer, swarm tag, encrypted body (private swarms),
        allow list, subkey slot under the cap, signature. None if all pass, else the refusal (its signer
        unverified). Called by every receive path before a body is decrypted, and by storing replicas."""
        return _apply(self.envelope_validators, Received(envelope, None, subkey, None), verified=False)

    def plaintext(self, envelope: Envelope) -> bytes:
        """The encoded message of an envelope whose envelope checks passed (decrypted in a private swarm);
        `ProtocolError` ``not_encrypted`` or ``wrong_secret`` when its encryption does not match this swarm."""
        return envelope.plaintext(self.swarm_secret)


def _apply(validators: Sequence[Validator], record: Received, *, verified: bool) -> Verdict | None:
    for validator in validators:
        reason = validator.validate(record)
        if reason is not None:
            logger.debug("%s rejected a record from %s: %s", type(validator).__name__, record.envelope.signer, reason)
            return Verdict(False, reason, type(validator).__name__, signer=record.envelope.signer, verified=verified)
    return None
