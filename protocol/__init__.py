"""The wire contract between sapo-swarm nodes. Imports no torch.

Where a rollout is signed: `seal`. Where it is checked on receipt: `RecordVerifier.verify`.
"""

from protocol.clock import now
from protocol.codec import decode, encode
from protocol.envelope import Envelope, open_envelope, seal
from protocol.errors import REASONS, ProtocolError
from protocol.identity import Identity, IdentityError, peer_id_from_public_key, verify_signature
from protocol.keys import announce_key, record_key, shard_of, window_of
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
from protocol.validation import RecordVerifier, Verdict

__all__ = [
    "PROTOCOL_VERSION", "REASONS", "DEFAULT_LIMITS",
    "Completion", "Envelope", "Identity", "IdentityError", "Limits", "Message", "PeerAnnouncement",
    "ProtocolError", "RecordVerifier", "RolloutBatch", "RolloutGroup", "TaskRef", "Verdict",
    "announce_key", "decode", "encode", "now", "open_envelope", "peer_id_from_public_key",
    "record_key", "seal", "shard_of", "verify_signature", "window_of",
]
