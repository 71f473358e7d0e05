"""Which software and which protocol a node runs, and what to tell a user whose node is behind.

Announcements carry both: the package version (`package_version`, ``PeerAnnouncement.software_version``)
and the protocol version (``PeerAnnouncement.version``). A record of another protocol major cannot be
read at all; `upgrade_hint` words the one message a node prints about them.

    >>> upgrade_hint((2, 0), None, (1, 2), "0.1.0")
    'peers publish protocol 2.0, which this node (sapo-swarm 0.1.0, protocol 1.2) cannot read; upgrade: install a sapo-swarm release that speaks protocol 2.x (pip install -U sapo-swarm) and restart'
    >>> upgrade_hint((2, 0), "0.4.1", (1, 2), "0.1.0").split("; ")[1]
    'upgrade: install sapo-swarm>=0.4.1 (pip install -U "sapo-swarm>=0.4.1") and restart'
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata

PACKAGE = "sapo-swarm"
_VERSION_TEXT = re.compile(r"[0-9][0-9A-Za-z.+-]{0,31}")
"""What a peer-supplied version string must look like before we repeat it (digits, letters, . + -)."""


@lru_cache(maxsize=1)
def package_version() -> str:
    """This installation's sapo-swarm version ("0+unknown" when run from an uninstalled source tree)."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def clean_version(text: object) -> str | None:
    """A peer's claimed package version if it looks like one, else None (it is never printed raw)."""
    if isinstance(text, str) and _VERSION_TEXT.fullmatch(text):
        return text
    return None


def upgrade_hint(theirs: tuple[int, int], their_package: str | None, ours: tuple[int, int], our_package: str) -> str:
    """The message for records of protocol `theirs` that a node speaking `ours` refused."""
    head = (f"peers publish protocol {theirs[0]}.{theirs[1]}, which this node ({PACKAGE} {our_package}, "
            f"protocol {ours[0]}.{ours[1]}) cannot read")
    if theirs[0] < ours[0]:
        return head + "; they run an older release, which must upgrade: nothing to do here"
    if their_package is not None:
        return head + f"; upgrade: install {PACKAGE}>={their_package} (pip install -U \"{PACKAGE}>={their_package}\") and restart"
    return head + f"; upgrade: install a {PACKAGE} release that speaks protocol {theirs[0]}.x (pip install -U {PACKAGE}) and restart"


__all__ = ["PACKAGE", "clean_version", "package_version", "upgrade_hint"]
