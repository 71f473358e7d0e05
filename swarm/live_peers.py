"""`swarm status --peers`: who is alive in a swarm, and why nobody is when that can be told.

    view = asyncio.run(look(config.transport, wait_s=5))
    console.print(peers_table(view.peers)); print(view.explanation)    # or json.dumps(view.to_json())

The observer checks the bootstrap addresses first (`swarm.diagnose`: a typo, a dead port, a restarted
bootstrap are named as such), then joins as a DHT client with a throwaway identity that never announces
itself (``announce_self = False``): nodes never count it in ``peers_seen``, and never route DHT requests
to it. It reads the peer announcements of the last windows. When it finds none it says why, if it can:

- announcements were refused for the swarm secret (`swarm.secret_watch`): a missing or wrong ``--secret``;
- the peers it met (bootstrap and DHT neighbours, asked over `transports.hivemind.hello`) run another swarm id, or key
  their records by windows of another length (``transport.window_seconds``);
- else: nobody announced in this swarm lately (nodes announce once per window while they run).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from protocol import Identity, PeerAnnouncement
from swarm.diagnose import BootstrapCheck
from swarm.secret_watch import secret_verdict
from swarm.transports.config import TransportConfig

logger = logging.getLogger(__name__)

@dataclass
class PeerView:
    """What the observer saw."""

    swarm_id: str
    peers: list[PeerAnnouncement] = field(default_factory=list)
    checks: list[BootstrapCheck] = field(default_factory=list)
    swarm_ids: Counter[str] = field(default_factory=Counter)
    """Swarm ids the peers asked over `transports.hivemind.hello` answered with."""
    windows: Counter[float] = field(default_factory=Counter)
    """``window_seconds`` the peers of this swarm id answered with."""
    window_seconds: float = 0.0
    dht_peers: int = 0
    refused_secret: int = 0
    explanation: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "swarm_id": self.swarm_id,
            "peers": [{"peer_id": p.peer_id, "model": p.model, "hardware": p.hardware, "software": p.software_version,
                       "window": p.window, "time": p.time, "addresses": list(p.addresses)} for p in self.peers],
            "bootstrap": [{"maddr": c.maddr, "verdict": c.verdict, "explanation": c.explain()} for c in self.checks],
            "dht_peers": self.dht_peers, "swarm_ids_seen": dict(self.swarm_ids), "refused_secret": self.refused_secret,
            "window_seconds": self.window_seconds, "peer_window_seconds": {str(w): n for w, n in self.windows.items()},
            "explanation": self.explanation,
        }


def observer_config(config: TransportConfig) -> TransportConfig:
    """The observer's transport: a DHT client on loopback that pushes nothing and keeps no stable id."""
    every_shard = min(config.announce_shards, 64)  # a one-off look: read every announce shard, not the per-window few
    return config.model_copy(update={
        "announce_reads_per_window": every_shard, "reachability": "private", "push_to_peers": False, "direct_parts": False, "stable_peer_id": False,
        "host_maddrs": ["/ip4/127.0.0.1/tcp/0"], "announce_maddrs": [], "type": "hivemind"})


async def look(config: TransportConfig, wait_s: float, timeout_s: float = 5.0) -> PeerView:
    """Check the bootstraps, join as an observer for `wait_s`, read announcements; see the module docstring.
    The transport's `TransportStartupError` propagates when the bootstraps answer but the DHT does not."""
    from swarm.transports import build_transport
    from swarm.transports.hivemind.probe import BootstrapProbe, ask_transport_neighbours

    view = PeerView(config.swarm_id, window_seconds=config.window_seconds)
    async with BootstrapProbe(timeout_s) as probe:
        view.checks = await probe.check(list(config.initial_peers))
    if not any(c.ok for c in view.checks):
        view.explanation = "no bootstrap peer answers:\n  " + "\n  ".join(c.explain() for c in view.checks)
        return view
    transport = build_transport(observer_config(config), Identity.generate())
    transport.announce_self = False
    await transport.start()
    try:
        await asyncio.sleep(wait_s)  # let announcements of this window land; there is no event for "all arrived"
        await transport.collect(max_batches=0)  # reads the announcement keys only
        view.peers = sorted(transport.peers(), key=lambda p: p.peer_id)
        view.refused_secret = transport.stats.rejections.get("wrong_secret", 0)
        if not view.peers:
            view.dht_peers, replies = await ask_transport_neighbours(transport, config.swarm_id)
            view.swarm_ids = Counter(r.swarm_id for r in replies)
            view.windows = Counter(r.window_seconds for r in replies if r.swarm_id == config.swarm_id and r.window_seconds)
            view.explanation = explain_empty(view, secret_verdict(transport, min_records=1))
    finally:
        await transport.stop()
    return view


def explain_empty(view: PeerView, secret_line: str | None) -> str:
    """Why no peer was seen, as precisely as the evidence allows."""
    if secret_line is not None:
        return secret_line
    others = {s: n for s, n in view.swarm_ids.items() if s != view.swarm_id}
    if others and view.swarm_id not in view.swarm_ids:
        listing = ", ".join(f"{s!r} ({n})" for s, n in sorted(others.items(), key=lambda kv: -kv[1]))
        best = max(others, key=others.get)
        return (f"the peers here run another swarm: {listing} of {sum(view.swarm_ids.values())} asked; you look at "
                f"swarm {view.swarm_id!r}: pass --set transport.swarm_id={best} (or the --config of that swarm)")
    other_windows = [w for w in view.windows if w != view.window_seconds]
    if other_windows:
        best = max(other_windows, key=view.windows.get)
        return (f"the peers of swarm {view.swarm_id!r} key records by {best:g} s windows, you by {view.window_seconds:g} s: "
                f"pass --set transport.window_seconds={best:g} (or the --config of that swarm)")
    return (f"no peer announced itself in swarm {view.swarm_id!r} lately ({view.dht_peers} DHT peers answer): nodes "
            "announce once per window while they run; is any node of this swarm running?")


def show(view: PeerView, as_json: bool, console: Any, err: Any) -> str | None:
    """Print the view (a table and why it is empty, or JSON); returns the failure to report when no
    bootstrap peer answered (None otherwise, and always None in JSON, which holds it)."""
    import json
    import sys

    from rich.markup import escape

    from swarm.status import peers_table

    if as_json:
        sys.stdout.write(json.dumps(view.to_json(), indent=2) + "\n")
        return None
    if not any(c.ok for c in view.checks):
        return view.explanation
    console.print(peers_table(view.peers))
    if view.explanation:
        err.print(f"[yellow]why 0 peers:[/] {escape(view.explanation)}", highlight=False, soft_wrap=True)
    return None
