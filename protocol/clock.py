"""The one function every module uses to read wall time.

Tests inject clock skew per node through the environment variable ``SAPO_CLOCK_OFFSET`` (seconds,
may be negative); production leaves it unset.
"""

from __future__ import annotations

import os
import time


def now() -> float:
    """Wall time in seconds, plus this process's injected skew, if any."""
    return time.time() + float(os.environ.get("SAPO_CLOCK_OFFSET", "0") or 0)
