"""hivemind's log records through sapo-swarm's handlers (`swarm.logs`): one format, and node.log too.

    adopt_hivemind()   # after hivemind was imported (the transport started); a no-op before
"""

from __future__ import annotations

import logging
import os
import sys


def adopt_hivemind() -> None:
    """Once hivemind is imported: send its records through our handlers, at the level `swarm.logs` chose
    (``$HIVEMIND_LOGLEVEL``, WARNING unless debugging)."""
    if "hivemind" not in sys.modules:
        return
    from hivemind.utils.logging import use_hivemind_log_handler

    use_hivemind_log_handler("nowhere")  # propagate to the root logger instead of hivemind's own handler
    logging.getLogger("hivemind").setLevel(os.environ.get("HIVEMIND_LOGLEVEL", "WARNING"))


__all__ = ["adopt_hivemind"]
