"""Hostile sybils (T7): several DHT nodes in one process that censor, serve stale or forged records, or turn.

    python tests/chaos/sybil_proc.py '{"initial_peers": [...], "host": "127.0.0.1", "mode": "censor"}' COUNT

Config: ``initial_peers``, ``host``; ``mode`` one of censor (default: accept stores, keep nothing),
honest, stale, forge (see `tests.chaos.sybil_lies`) or ``turn``: honest until ``turn_after_s`` (if
given) or a turn command, then ``turn_to`` (default censor), all sybils at once. ``swarm_id``,
``window_seconds`` and ``num_shards`` name the record keys the stale and forge modes lie about.

Prints one JSON line ``{"event": "ready", "sybils": COUNT, "mode": ...}``, then answers one JSON line
per command on stdin: ``{"cmd": "turn", "mode": M}`` (every sybil of the process switches to M now),
``{"cmd": "stats"}`` (stores kept and dropped, lies served). Stops on "quit" or when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from hivemind.dht.node import DHTNode  # noqa: E402

from protocol.identity import Identity  # noqa: E402
from swarm.transports.config import TransportConfig  # noqa: E402
from swarm.transports.hivemind.startup import p2p_options  # noqa: E402
from tests.chaos.sybil_lies import Crew, KeyBook, LyingStorage  # noqa: E402


def _reply(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def _command(crew: Crew, line: bytes) -> bool:
    """Handle one stdin line; False once told to quit."""
    try:
        cmd = json.loads(line)
    except ValueError:
        return b"quit" not in line
    if not isinstance(cmd, dict) or cmd.get("cmd") == "quit":
        return False
    if cmd.get("cmd") == "turn":
        try:
            before = crew.turn(str(cmd.get("mode", "censor")))
        except ValueError as exc:
            _reply(event="error", error=str(exc))
            return True
        _reply(event="turned", mode=crew.mode, was=before, t=time.time())
    elif cmd.get("cmd") == "stats":
        _reply(event="stats", mode=crew.mode, counts=dict(crew.counts))
    else:
        _reply(event="error", error=f"unknown command {cmd.get('cmd')!r}")
    return True


async def main() -> None:
    cfg, count = json.loads(sys.argv[1]), int(sys.argv[2])
    mode = cfg.get("mode", "censor")
    keys = KeyBook(cfg.get("swarm_id", "chaos-bench"), float(cfg.get("window_seconds", 2.0)), int(cfg.get("num_shards", 2)))
    crew = Crew(keys, mode="honest" if mode == "turn" else mode)
    options = p2p_options(TransportConfig(host_maddrs=[f"/ip4/{cfg['host']}/tcp/0"]))
    nodes = []
    for _ in range(count):
        node = await DHTNode.create(initial_peers=cfg["initial_peers"], num_replicas=5, cache_nearest=0, **options)
        node.protocol.storage = LyingStorage(crew, Identity.generate())
        nodes.append(node)
    loop = asyncio.get_running_loop()
    if mode == "turn" and cfg.get("turn_after_s") is not None:
        loop.call_later(float(cfg["turn_after_s"]), crew.turn, cfg.get("turn_to", "censor"))
    _reply(event="ready", sybils=count, mode=mode, pid=os.getpid())
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (line := await reader.readline()) and _command(crew, line):
        pass
    await asyncio.gather(*(n.shutdown() for n in nodes), return_exceptions=True)


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("SAPO_LOG", "WARNING"), stream=sys.stderr)
    asyncio.run(main())
