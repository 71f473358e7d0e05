"""The reference gossip pattern (genrl 0.3.0's `HivemindBackend`) on plain hivemind DHT nodes.

Every node stores its batch under one key per round (subkey = its peer id, expiration 600 s, hivemind's
default beam), sleeps 1 s, then reads the whole key with one ``get(latest=True)``; a ``None`` is counted.
It runs on a `DHTNode` of its own in each benchmark process, with hivemind's defaults and **no record
validator**: our store-side validator refuses plain keys, so on our transport's DHT every read of this
pattern came back empty. The stored values are our sealed records, and the reader verifies each one,
so both patterns pay the same signature checks; the reference's DHT nodes check nothing.

    peer = await ReferencePeer.create(initial_peers=[], verifier=RecordVerifier("bench4"))
    await peer.store(rnd, sealed, subkey=peer_id)
    read, accepted, empty = await peer.collect(rnd, own=peer_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from hivemind.dht.node import DHTNode
from hivemind.utils import get_dht_time

from protocol import RecordVerifier, RolloutBatch

EXPIRATION_S = 600.0
"""genrl 0.3.0 keeps each round's records for 600 s."""


def daemon_cpu_s(p2p: Any) -> float:
    """CPU seconds of a hivemind P2P's p2pd daemon (a child process, so not in RUSAGE_SELF); 0 if unknown."""
    child = getattr(p2p, "_child", None)
    try:
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError, IndexError):
        return 0.0


class ReferencePeer:
    """One node's side of the reference pattern: a validator-free `DHTNode` on loopback."""

    def __init__(self, node: DHTNode, swarm_id: str, verifier: RecordVerifier) -> None:
        self.node, self.swarm_id, self.verifier = node, swarm_id, verifier

    @classmethod
    async def create(cls, initial_peers: list[str], swarm_id: str, verifier: RecordVerifier) -> "ReferencePeer":
        """Start the DHT node (joining through ``initial_peers``, or alone when empty); NAT, AutoNAT and relays off."""
        node = await DHTNode.create(initial_peers=initial_peers or None, host_maddrs=["/ip4/127.0.0.1/tcp/0"],
                                    use_relay=False, use_auto_relay=False, auto_nat=False, nat_port_map=False)
        return cls(node, swarm_id, verifier)

    async def maddrs(self) -> list[str]:
        return [str(m) for m in await self.node.get_visible_maddrs()]

    def key(self, rnd: int) -> str:
        return f"ref/{self.swarm_id}/{rnd}"

    async def store(self, rnd: int, value: bytes, subkey: str) -> bool:
        return bool(await self.node.store(self.key(rnd), value, get_dht_time() + EXPIRATION_S, subkey=subkey))

    async def collect(self, rnd: int, own: str) -> tuple[int, list[RolloutBatch], bool]:
        """(bytes read, verified batches of other peers, whether the get returned None) for round ``rnd``."""
        found = await self.node.get(self.key(rnd), latest=True)
        items = found.value.items() if found is not None and isinstance(found.value, dict) else []
        read, batches = 0, []
        for subkey, item in items:
            value = getattr(item, "value", b"")
            if not isinstance(value, bytes):
                continue
            read += len(value)
            verdict = self.verifier.verify(value, subkey=subkey)
            if verdict.accepted and subkey != own and isinstance(verdict.message, RolloutBatch):
                batches.append(verdict.message)
        return read, batches, found is None

    def daemon_cpu_s(self) -> float:
        return daemon_cpu_s(self.node.p2p)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Leave within ``timeout_s``; past it, kill the p2pd daemon (hivemind's shutdown has no deadline)."""
        try:
            await asyncio.wait_for(self.node.shutdown(), timeout_s)
        except (asyncio.TimeoutError, OSError, RuntimeError):
            child = getattr(self.node.p2p, "_child", None)
            if child is not None and child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
