"""libp2p multiaddrs: checking one a user typed, and finding the libp2p peer id inside a peer's addresses.

    >>> multiaddr_error("/ip4/127.0.0.1/tcp/31337") is None
    True
    >>> libp2p_id(("/ip4/127.0.0.1/tcp/1/p2p/not-base58",)) is None
    True

Addresses in announcements are peer-controlled text: only the ``/p2p/<id>`` tail is used, and it must
be a valid base58 peer id.
"""

from __future__ import annotations

import re
from typing import Iterable

from hivemind.p2p import PeerID
from hivemind.utils.multiaddr import Multiaddr

_P2P_ID = re.compile(r"/p2p/(\w+)$")


def multiaddr_error(maddr: str) -> str | None:
    """Why ``maddr`` is not a multiaddr (the parser's message), or None if it is one."""
    try:
        Multiaddr(maddr)
    except ValueError as exc:
        return str(exc)
    return None


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
