"""The one function every module uses to read wall time.

Tests inject clock skew per node through environment variables; production leaves both unset:

- ``SAPO_CLOCK_OFFSET``: a constant skew in seconds (may be negative);
- ``SAPO_CLOCK_SWING="A:P"``: a square wave on top of it, +A seconds for P seconds, then -A seconds
  for P seconds, and so on (a clock that NTP keeps stepping back and forth).

Only the wall clock is skewed: ``time.monotonic()`` is not, as on a real machine.
"""

from __future__ import annotations

import os
import time


def now() -> float:
    """Wall time in seconds, plus this process's injected skew, if any."""
    t = time.time()
    return t + injected_skew(t)


def injected_skew(t: float) -> float:
    """The test-injected skew at true time ``t`` (0 in production)."""
    skew = float(os.environ.get("SAPO_CLOCK_OFFSET", "0") or 0)
    swing = os.environ.get("SAPO_CLOCK_SWING")
    if swing:
        amplitude, _, period = swing.partition(":")
        skew += float(amplitude) if int(t // float(period or 1)) % 2 == 0 else -float(amplitude)
    return skew
