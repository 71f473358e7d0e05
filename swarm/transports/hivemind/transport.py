"""The real swarm: sharded gossip over a hivemind `DHTNode` running in the node's own asyncio loop.

    transport = await HivemindTransport.create(config, identity)   # raises TransportStartupError
    print(transport.visible_maddrs)          # give these to other nodes as initial_peers
    receipt = await transport.publish(batch)
    fresh = await transport.collect(max_batches=8)
    await transport.stop()

Start-up is patient (``config.startup_timeout_s``, with backoff) and fails with a named reason
(`TransportStartupError`). A node that prefers to train alone when the swarm is unreachable catches
it and switches to ``build_transport(config.model_copy(update={"type": "none"}), identity)``; once
started, an unreachable swarm only makes collects come back empty.

Why parts in the DHT rather than libp2p streams for big batches: a record stays readable after its
publisher dies or goes away mid-window, and every byte that reaches a reader was checked by the
storing replicas (`SignedRecordValidator`), with no extra RPC surface to rate-limit. The cost is
replication bytes (num_replicas copies of each part), paid once per publish. With ``direct_parts`` the
publisher also pushes the index and serves its recent parts (`swarm.transports.hivemind.direct_parts`), so
receivers usually skip the multi-hop DHT lookups; every part is still checked against its sha256.

The p2pd daemon is a child of this process and shares its process group: a supervisor that kills
the node should kill the group (``os.killpg``), as `tests/swarm/helpers.py` does.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from hivemind.dht.node import DHTNode
from hivemind.p2p import PeerID

from protocol.identity import Identity
from swarm.transports.chunks import EmptyStore, Records
from swarm.transports.config import TransportConfig
from swarm.transports.hivemind.dht_validator import build_record_validator
from swarm.transports.hivemind.direct_parts import DirectParts, PartCache
from swarm.transports.hivemind.multiaddr import libp2p_id
from swarm.transports.hivemind.push import Pusher
from swarm.transports.hivemind.reachability import Reachability
from swarm.transports.hivemind.reconnect import Reconnect
from swarm.transports.sharded import ShardedTransport
from swarm.transports.hivemind.startup import TransportStartupError, start_dht_node, stop_dht_node
from swarm.transports.hivemind.storage_budget import budget_dht_storage
from swarm.transports.hivemind.swarm_clock import ClockSync, SwarmClock

logger = logging.getLogger(__name__)


class DHTRecordStore:
    """`RecordStore` over a `DHTNode`: small beams, every miss or malformed result is empty.

    Expirations are in swarm time (``clock``, the transport's `SwarmClock`), the time the storing
    peers compare them with: a node beyond the tolerated skew stores records that expire early or late."""

    def __init__(self, node: DHTNode, beam_size: int, clock: Callable[[], float]) -> None:
        self.node, self.beam_size, self.clock = node, beam_size, clock

    def time(self) -> float:
        return self.clock()

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        return bool(await self.node.store(key, value, expiration, subkey=subkey, beam_size=self.beam_size))

    async def get(self, key: str, latest: bool = True) -> Records:
        found = await self.node.get(key, latest=latest, beam_size=self.beam_size)
        value: Any = getattr(found, "value", None)
        if not isinstance(value, dict):
            return {}
        return {
            sk: (item.value, item.expiration_time)
            for sk, item in value.items()
            if isinstance(sk, str) and hasattr(item, "value")
        }


def hold_dht_calls(protocol: Any, reach: Reachability) -> None:
    """Route hivemind's outgoing DHT calls (ping, store, find) through `reach`: a call to a held peer returns
    None at once, as hivemind reports a peer that did not answer, and every other call's outcome counts
    toward holding or releasing its peer. Lookups meet peers across a partition through other nodes'
    routing tables; without this each such meeting is one more failed dial in libp2p's backoff. The calls
    are wrapped on this node's protocol instance: hivemind builds the protocol inside `DHTNode.create`."""
    for name in ("call_ping", "call_store", "call_find"):
        call = getattr(protocol, name)

        async def held_or_call(peer: PeerID, *args: Any, _call: Callable = call, **kwargs: Any) -> Any:
            if reach.held(peer):
                return None
            answer = await _call(peer, *args, **kwargs)
            reach.result(peer, answer is not None)
            return answer

        setattr(protocol, name, held_or_call)


class HivemindTransport(ShardedTransport):
    """`ShardedTransport` over hivemind's DHT; build with `create` or construct then `start`."""

    pusher: Pusher | None
    direct_parts: DirectParts | None = None
    """Serves this node's recent parts and fetches pushed indexes' parts from their pusher (``direct_parts``)."""

    def __init__(self, config: TransportConfig, identity: Identity) -> None:
        self.swarm_clock = SwarmClock(config.max_clock_skew_s)
        super().__init__(config, identity, EmptyStore(self.swarm_clock), clock=self.swarm_clock)  # the DHT store: start()
        self.node: DHTNode | None = None
        self.clock_sync: ClockSync | None = None
        self.reconnect: Reconnect | None = None
        self.reach = Reachability(probe_period_s=min(0.5, config.window_seconds / 4), probe_timeout_s=min(1.0, config.window_seconds / 4),
                                  max_probes=config.max_probes, max_peers=4 * config.max_known_peers)
        """Peers not to dial until a TCP probe answers, shared by pushes, routing-table pings, clock queries and DHT calls."""
        self.visible_maddrs: list[str] = []

    @classmethod
    async def create(cls, config: TransportConfig, identity: Identity) -> "HivemindTransport":
        """Start the DHT node and join the swarm; `TransportStartupError` says why if it cannot."""
        self = cls(config, identity)
        await self.start()
        return self

    @property
    def libp2p_peer_id(self) -> str:
        assert self.node is not None, "call start() first"
        return self.node.peer_id.to_base58()

    async def start(self) -> None:
        if self.node is not None:
            return
        validator = build_record_validator(self.config, self.clock, report=self.rejection_log)
        self.node = await start_dht_node(self.config, validator)
        budget_dht_storage(self.node.protocol, self.config.max_dht_storage_bytes, report=self.rejection_log)
        hold_dht_calls(self.node.protocol, self.reach)
        self.store = DHTRecordStore(self.node, self.config.beam_size, self.clock)
        initial = []
        for maddr in self.config.initial_peers:
            if (pid := libp2p_id((maddr,))) is not None:
                self.reach.learn(pid, (maddr,))
                initial.append(pid)
        await self.reach.start()
        self.clock_sync = ClockSync(self.swarm_clock, self.node.p2p, self._clock_peers, timeout=self.config.request_timeout_s,
                                    refresh_s=max(self.config.window_seconds, 5.0))
        await self.clock_sync.start()
        if self.config.push_to_peers:
            await self._start_push(self.node)
        self.reconnect = Reconnect(self.node, initial, self._admitted_ids, period_s=max(self.config.window_seconds, 2.0),
                                   timeout_s=self.config.request_timeout_s, reach=self.reach, max_pings=self.config.reconnect_pings,
                                   remember=self.config.max_known_peers)
        await self.reconnect.start()
        self.visible_maddrs = [str(m) for m in await self.node.get_visible_maddrs()]
        self.addresses = tuple(self.visible_maddrs)
        mode = "joined through " + ", ".join(self.config.initial_peers) if self.config.initial_peers else "new swarm"
        logger.info("swarm %s (%s): peer %s listening on %s", self.config.swarm_id, mode, self.peer_id, " ".join(self.visible_maddrs))

    async def stop(self) -> None:
        node, self.node = self.node, None
        if self.clock_sync is not None:
            await self.clock_sync.stop()
        if self.reconnect is not None:
            await self.reconnect.stop()
        await self.reach.stop()
        if self.pusher is not None:
            await self.pusher.stop()
        self.receiver.stop()
        if node is not None:
            await stop_dht_node(node, self.config.shutdown_timeout_s / 2)
            logger.info("peer %s left swarm %s", self.peer_id, self.config.swarm_id)

    async def _start_push(self, node: DHTNode) -> None:
        """Flood publishing (`Pusher`), and with ``direct_parts`` the serving and fetching of parts."""
        self.pusher = Pusher(node.p2p, self.receiver, self.config, peers=self.peers, window=self.window, rng=self.rng,
                             reach=self.reach)
        self.pusher.fallback_targets = lambda: self.clock_sync.responders if self.clock_sync else ()
        await self.pusher.start()
        if self.config.direct_parts:
            self.direct_parts = DirectParts(node.p2p, PartCache(self.clock, self.config.part_cache_bytes),
                                            timeout=self.config.request_timeout_s, report=self.rejection_log)
            await self.direct_parts.start()
            self.part_cache, self.receiver.direct = self.direct_parts.cache, self.direct_parts

    def _admitted_ids(self) -> list[PeerID]:
        """libp2p ids of the peers whose signed announcements this node verified."""
        ids = []
        for a in self.peers():
            if (pid := libp2p_id(a.addresses)) is not None:
                self.reach.learn(pid, a.addresses)
                ids.append(pid)
        return ids

    def _clock_peers(self) -> list[PeerID]:
        """Whom the swarm clock asks: the DHT routing table and the admitted peers (not keyed by window), not held."""
        known = list(self.node.protocol.routing_table.peer_id_to_uid) if self.node is not None else []
        return [pid for pid in known + self._admitted_ids() if not self.reach.held(pid)]


__all__ = ["DHTRecordStore", "HivemindTransport", "TransportStartupError"]
