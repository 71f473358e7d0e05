"""Refused records: every one counted by reason, few of them logged, each line escaped.

A hostile peer controls the text it sends and can mint a fresh peer id per record, so one log line
per refused record (or per claimed peer id) hands it the node's terminal and log. Here:

- counts are exact: ``counts[reason] += 1`` for every refusal (`TransportStats.rejections`, the
  metrics' ``rejections``); only the log lines are bounded;
- a refusal is logged at WARNING the first time its (source, reason) pair is seen. The source is an
  authenticated one: the verified signer of the record, or the libp2p peer of the connection it came
  over. Records whose signer is not verified (bad signature, wrong secret, junk) all share the source
  ``unauthenticated``, whatever peer id they claim;
- in all, at most ``lines_per_minute`` such lines (a token bucket, ``burst`` at once); the rest go to
  DEBUG, itself bounded, and a WARNING every ``summary_every_s`` at most sums up what was held back:
  "suppressed K rejection log lines in the last 60 s (by reason: malformed 2000, ...)";
- every peer string goes through `protocol.printable.peer_text`;
- records of another protocol major (``version``) are one line for the whole swarm, whoever sent them,
  with room for the release to install (`protocol.versions.upgrade_hint`).

    log = RejectionLog(Counter())
    log("bad_signature", "DHT store-side check", claimed=subkey_owner(subkey))   # unauthenticated
    log("over_quota", "window 17", signer=batch.sender)                          # a verified signer
    log.summarize()                                                              # from each collect
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from typing import Callable, Protocol

from protocol.printable import peer_text

logger = logging.getLogger(__name__)

UNAUTHENTICATED = "unauthenticated"
"""The one source of every refused record whose signer was not verified."""
WHOLE_SWARM = frozenset({"version"})
"""Reasons logged once for all sources: another protocol major's message is the same for every peer."""


class RejectionSink(Protocol):
    """Where a refused record is reported: `RejectionLog`, or a test's recorder."""

    def __call__(self, reason: str, detail: str = "", *, signer: str | None = None, claimed: str = "") -> None:
        """Called once per refused record. ``signer``: an authenticated source (verified signer, or
        ``libp2p:<id>`` of the connection), None if unauthenticated; ``claimed``: the peer id it claims."""


class TokenBucket:
    """At most ``burst`` takes at once, refilled at ``per_s`` per second."""

    def __init__(self, per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_s, self.burst, self.clock = per_s, burst, clock
        self.tokens, self._at = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self._at) * self.per_s)
        self._at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RejectionLog:
    """A `RejectionSink` that counts into ``counts`` and logs a bounded, escaped few lines (module docstring)."""

    def __init__(self, counts: Counter[str], *, lines_per_minute: float = 20.0, burst: int = 20,
                 summary_every_s: float = 60.0, debug_lines_per_minute: float = 600.0, max_sources: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.counts, self.summary_every_s, self.max_sources, self.clock = counts, summary_every_s, max_sources, clock
        self._warnings = TokenBucket(lines_per_minute / 60.0, burst, clock)
        self._debug = TokenBucket(debug_lines_per_minute / 60.0, int(debug_lines_per_minute), clock)
        self._logged: OrderedDict[tuple[str, str], None] = OrderedDict()
        """(source, reason) pairs already logged at warning, most recent last, at most ``max_sources``."""
        self.suppressed: Counter[str] = Counter()
        """Warning lines held back since the last summary, by reason."""
        self._summarized_at = clock()

    def __call__(self, reason: str, detail: str = "", *, signer: str | None = None, claimed: str = "") -> None:
        self.counts[reason] += 1
        source = "" if reason in WHOLE_SWARM else signer or UNAUTHENTICATED
        key = (source, reason)
        if key in self._logged:
            self._logged.move_to_end(key)
        elif self._warnings.take():
            self._remember(key)
            logger.warning("rejected %s: %s (%s); further ones %s", _who(signer, claimed), reason,
                           peer_text(detail, 400 if reason in WHOLE_SWARM else 160, quote=False),
                           "from it are counted, not logged" if signer and source
                           else "of this reason are counted, not logged")
            self.summarize()
            return
        self.suppressed[reason] += 1
        if logger.isEnabledFor(logging.DEBUG) and self._debug.take():
            logger.debug("rejected %s: %s (%s)", _who(signer, claimed), reason, peer_text(detail, 160, quote=False))
        self.summarize()

    def summarize(self) -> None:
        """Log one line summing up the warnings held back, at most once per ``summary_every_s`` (cheap to call)."""
        now = self.clock()
        if not self.suppressed or now - self._summarized_at < self.summary_every_s:
            return
        total, by_reason = sum(self.suppressed.values()), ", ".join(f"{r} {n}" for r, n in self.suppressed.most_common())
        logger.warning("suppressed %d rejection log lines in the last %.0f s (by reason: %s); every refusal is counted "
                       "in the metrics' rejections", total, now - self._summarized_at, by_reason)
        self.suppressed.clear()
        self._summarized_at = now

    def total(self) -> int:
        """Refusals counted so far, all reasons."""
        return self.counts.total()

    def _remember(self, key: tuple[str, str]) -> None:
        self._logged[key] = None
        if len(self._logged) > self.max_sources:
            self._logged.popitem(last=False)


def _who(signer: str | None, claimed: str) -> str:
    if signer:
        return f"a record from {peer_text(signer)}"
    return f"an unauthenticated record (claims {peer_text(claimed or '?')})"
