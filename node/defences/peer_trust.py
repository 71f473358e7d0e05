"""Peer trust: take fewer, then no, groups from a peer whose groups the other defences keep flagging.

The node's `PeerLedger` counts, per sender and with its per-round decay, the groups the defences inspected
and the share of completions they flagged in each (`PeerLedger.drop_rate`: flagged share per inspected group).
Up to `tolerate_drop_rate` every group of the peer is admitted; from `ban_drop_rate` none is; in between, a
group is admitted with a probability that falls linearly from 1 to 0. A refused group is not inspected, so a
refused peer's rate holds while both its counts decay, until fewer than `min_groups` inspected groups are
remembered: then its groups are inspected again (probation). With decay 0.95 and 8 groups a round, a peer
banned after three rounds sits out about 20 rounds; a peer that stopped poisoning is admitted again, and an
honest peer whose few false flags keep its rate under `tolerate_drop_rate` never notices.

    >>> from node.peer_ledger import PeerLedger, PeerRecord
    >>> ledger = PeerLedger(records={"poisoner": PeerRecord(inspected=20, dropped=10),
    ...                              "honest": PeerRecord(inspected=20, dropped=0.4), "mixed": PeerRecord(inspected=20, dropped=4)})
    >>> trust = PeerTrust(tolerate_drop_rate=0.1, ban_drop_rate=0.3, min_groups=8)
    >>> [round(trust.admission(peer, ledger), 3) for peer in ("poisoner", "honest", "mixed", "never-seen")]
    [0.0, 1.0, 0.5, 1.0]

Reference: SAPO (arXiv 2509.08721) names trust and reputation as future work; hivemind's
`dht/routing.py` bans nothing, prime-rl's orchestrator has no peers: this is ours.
"""

from __future__ import annotations

import random

from node.peer_ledger import PeerLedger


class PeerTrust:
    """Admits a group from `peer` with a probability set by the peer's drop rate in the ledger."""

    def __init__(self, tolerate_drop_rate: float = 0.1, ban_drop_rate: float = 0.3, min_groups: float = 8.0) -> None:
        if ban_drop_rate <= tolerate_drop_rate:
            raise ValueError(f"ban_drop_rate {ban_drop_rate} must exceed tolerate_drop_rate {tolerate_drop_rate}")
        self.tolerate, self.ban, self.min_groups = tolerate_drop_rate, ban_drop_rate, min_groups

    def admission(self, peer: str, ledger: PeerLedger | None) -> float:
        """Probability that a group from `peer` is admitted this round (1 for an unknown peer)."""
        if ledger is None:
            return 1.0
        rate = ledger.drop_rate(peer, self.min_groups)
        if rate <= self.tolerate:
            return 1.0
        if rate >= self.ban:
            return 0.0
        return (self.ban - rate) / (self.ban - self.tolerate)

    def admit(self, peer: str, ledger: PeerLedger | None, rng: random.Random) -> str | None:
        """None to admit a group from `peer`; "banned" or "distrusted" (refused at random) otherwise.
        Draws from `rng` only for a peer between the two rates, so honest traffic consumes no randomness."""
        p = self.admission(peer, ledger)
        if p >= 1.0:
            return None
        if p <= 0.0:
            return "banned"
        return None if rng.random() < p else "distrusted"
