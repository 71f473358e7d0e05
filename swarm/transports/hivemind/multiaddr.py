"""libp2p multiaddrs: finding the libp2p peer id inside a peer's addresses, as hivemind's `PeerID`.

    >>> libp2p_id(("/ip4/127.0.0.1/tcp/1/p2p/not-base58",)) is None
    True

Addresses in announcements are peer-controlled text: only the ``/p2p/<id>`` tail is used, and it must
be a valid base58 peer id. An address a user typed is checked by `swarm.maddr` (no hivemind import).
"""

from __future__ import annotations

import re
from typing import Iterable

from hivemind.p2p import PeerID

_P2P_ID = re.compile(r"/p2p/(\w+)$")


def libp2p_id(addresses: Iterable[str]) -> PeerID | None:
    """The libp2p peer id of the first address that ends in ``/p2p/<id>``; None if there is none or it is invalid."""
    for addr in addresses:
        match = _P2P_ID.search(addr)
        if match:
            try:
                return PeerID.from_base58(match.group(1))
            except ValueError:
                return None
    return None
