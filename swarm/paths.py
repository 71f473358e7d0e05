"""Default locations on disk: the identity key, a joined node's state, run folders, shipped configs.

``$SAPO_SWARM_HOME`` moves everything that is not a run folder (default ``~/.config/sapo-swarm``):

    >>> import os; os.environ["SAPO_SWARM_HOME"] = "/tmp/sapo-home"
    >>> str(default_identity_path())
    '/tmp/sapo-home/identity.pem'
"""

from __future__ import annotations

import os
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def swarm_home() -> Path:
    """``$SAPO_SWARM_HOME`` or ``~/.config/sapo-swarm``."""
    env = os.environ.get("SAPO_SWARM_HOME")
    return Path(env).expanduser() if env else Path.home() / ".config" / "sapo-swarm"


def default_identity_path() -> Path:
    """The node's Ed25519 key file (mode 0600). Losing it loses the node's identity."""
    return swarm_home() / "identity.pem"


def default_node_dir() -> Path:
    """Where `swarm join` keeps metrics and checkpoints, so a restart resumes."""
    return swarm_home() / "node"


def new_run_dir(base: Path = Path("runs")) -> Path:
    """``runs/<timestamp>``, with a suffix when two runs start in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / stamp
    n = 1
    while path.exists():
        path = base / f"{stamp}-{n}"
        n += 1
    return path


def shipped_config(name: str) -> Path:
    """``configs/<name>`` from the working directory if present, else from the source checkout."""
    local = Path("configs") / name
    return local if local.exists() else REPO_ROOT / "configs" / name
