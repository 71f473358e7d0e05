"""The one exception the protocol raises, and the stable reason codes it carries.

Reason codes are counted by receivers (`rejections[reason] += 1`), so they are part of the public
interface: add new ones, never rename.
"""

from __future__ import annotations

REASONS: tuple[str, ...] = (
    "too_large",  # record bytes over the cap
    "malformed",  # not valid msgpack, wrong top-level shape, trailing bytes
    "version",  # a newer major protocol version
    "schema",  # a field missing, of the wrong type, out of bounds or not finite
    "no_signature",  # envelope without a signature
    "bad_signature",  # signature does not verify
    "wrong_secret",  # private swarm: missing or wrong authentication tag
    "sender_mismatch",  # message's sender id is not the signer's peer id
    "subkey_mismatch",  # record stored under a subkey other than its signer's peer id
    "wrong_swarm",  # message names another swarm
    "wrong_window",  # record stored under a window or shard it does not belong to
    "stale_window",  # window older than the receiver accepts
    "future_window",  # window ahead of the receiver's clock beyond tolerance
    "not_allowed",  # signer not on the swarm's allow list
    "duplicate",  # (peer, batch id) already accepted
    "over_quota",  # too many records from one peer in one window
    "incomplete",  # a chunked record with a part missing
    "not_encrypted",  # private swarm: record body sent in the clear (a protocol 1.0 sender)
)


class ProtocolError(ValueError):
    """Raised when bytes from the network cannot become a trusted message.

    Raised by `decode`, `open_envelope` and the validators' helpers for any malformed, oversized,
    unsigned, forged or out-of-policy input; `reason` is one of `REASONS`. Never raised for an
    unreachable peer (that is an empty result, not an error) nor for our own bugs (those are
    `TypeError`/`AssertionError` at construction).
    """

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
