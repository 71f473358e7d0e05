"""Typed configuration of the gossip transport (the `transport:` section of a YAML config)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.limits import DEFAULT_LIMITS

RENAMED_KEYS = {
    "collect_timeout_s": ("request_timeout_s", "the deadline of one network call; the round's wait for peers' "
                                               "rollouts is node.round.collect_timeout_s"),
}
"""Keys this section no longer has -> (new key, what it is): an old config fails naming the new key."""


class TransportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    type: Literal["hivemind", "memory", "none"] = "hivemind"
    """hivemind (the real DHT), memory (in-process simulations only) or none (silo)."""
    swarm_id: str = Field("testnet", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    """Name of the swarm; records of other swarms are refused."""
    initial_peers: list[str] = Field(default_factory=list)
    """Multiaddrs of peers to join through (empty: start a new swarm)."""
    host_maddrs: list[str] = Field(default_factory=lambda: ["/ip4/127.0.0.1/tcp/0"])
    """Addresses to listen on."""
    announce_maddrs: list[str] = Field(default_factory=list)
    """Public addresses to announce instead of the listening ones (behind NAT, with a port forwarded)."""
    reachability: Literal["auto", "public", "private"] = "auto"
    """auto: at start-up a peer tries to connect back to this node's port (`transports.hivemind.hello`); if it cannot, the node
    takes part through outbound connections only (DHT client mode). public: serve the DHT without asking.
    private: behind NAT, DHT client mode without asking."""
    swarm_secret: str | None = None
    """Private swarm secret: only records tagged with it are accepted."""
    allowed_peers: list[str] | None = None
    """Closed swarm: only these peer ids may write (None: anyone holding the secret)."""
    window_seconds: float = Field(10.0, gt=0.0, le=3600.0)
    """Length of a time window of DHT time; records are keyed by window."""
    max_clock_skew_s: float = Field(60.0, ge=0.0, le=3600.0)
    """Tolerated skew of a node's clock: within it, the node follows the swarm clock (median of its
    peers' clocks, `swarm.transports.hivemind.swarm_clock`); beyond it, its records are refused as out of window."""
    num_shards: int = Field(4, ge=1, le=4096)
    """Shards per window; a peer's shard is sha256(peer id) mod num_shards."""
    shards_per_collect: int = Field(2, ge=1)
    """Random shards a node reads per collect (one more when they come back thin)."""
    announce_shards: int = Field(1, ge=1, le=4096)
    """Announcement shards per window: a peer announces under sha256(peer id) mod announce_shards, so one key
    holds about N / announce_shards announcements and no key is read by the whole swarm. 1 suits a swarm of a
    few dozen peers; beyond, about N / 8 (a key then holds ~8 peers, as many as a push fanout)."""
    announce_reads_per_window: int = Field(2, ge=1, le=64)
    """Announcement shards a node reads per window (each in the current and the previous window), in turn
    from a random start: its view covers every shard within announce_shards / announce_reads_per_window
    windows, and every shard at once when there are no more than this. The cost does not grow with N."""
    max_known_peers: int = Field(256, ge=1, le=65536)
    """Peers this node keeps in its peer table (from verified announcements; push targets and the peers it
    re-dials come from it). The oldest announcements go first when it is full."""
    windows_per_collect: int = Field(2, ge=1, le=16)
    """How many recent windows a collect reads."""
    record_ttl_windows: int = Field(3, ge=1, le=64)
    """Records expire this many windows after they are stored."""
    beam_size: int = Field(5, ge=1, le=64)
    """hivemind beam size for get/store (small beams keep CPU flat at 16-32 nodes)."""
    max_records_per_peer_per_window: int = Field(4, ge=1)
    """Records accepted from one peer in one window; more are dropped and counted."""
    startup_timeout_s: float = Field(120.0, gt=0.0)
    """How long to keep trying to start the daemon and reach an initial peer."""
    identity_path: str | None = None
    """Ed25519 key file of this node (default: ~/.config/sapo-swarm/identity.pem)."""
    stable_peer_id: bool = False
    """Derive the libp2p peer id from identity_path's key, so this peer's address survives restarts
    (`swarm bootstrap --identity`); off: a fresh libp2p id per start."""
    use_relay: bool = False
    """libp2p circuit relays (off in tests and on loopback)."""
    use_auto_relay: bool = False
    """libp2p auto relay (off in tests and on loopback)."""
    shutdown_timeout_s: float = Field(15.0, gt=0.0, le=600.0)
    """How long leaving the swarm may take (background tasks, the DHT node, p2pd); past it the node stops
    waiting, logs where the stop was stuck and exits anyway (its last round is already saved)."""
    request_timeout_s: float = Field(3.0, gt=0.0, le=600.0)
    """Deadline of one network step (a collect's gather of DHT gets, a store, a push, a part fetch, a clock
    query); keys still in flight are treated as empty. Not the round's deadline for peers' rollouts
    (`node.round.collect_timeout_s`), which bounds a whole collect."""
    part_threshold_bytes: int = Field(16 * 1024, ge=1024, le=DEFAULT_LIMITS.max_inline_record_bytes)
    """Sealed batches larger than this are split into content-addressed parts plus a signed index
    (receivers refuse a record stored whole over `Limits.max_inline_record_bytes`)."""
    part_bytes: int = Field(1024 * 1024, ge=1024, le=1024 * 1024)
    """Size of one part (at most 1 MiB: big DHT values replicate slowly, over ~4 MiB not at all); a record
    that would need more than `protocol.parts.MAX_PARTS` (64) parts is cut into 64 bigger ones."""
    inbox_size: int = Field(256, ge=1, le=65536)
    """Verified batches held for the node between collects; the oldest are dropped beyond it."""
    num_replicas: int = Field(5, ge=1, le=20)
    """DHT nodes asked to store each record."""
    push_to_peers: bool = True
    """Also push each small record straight to the announced peers (flood publishing: delivery survives
    DHT replicas held by censoring sybils); the DHT copy stays the directory."""
    push_fanout: int = Field(8, ge=1, le=1024)
    """Admitted peers each record is pushed to, chosen at random (keeps a node's cost flat as the swarm grows)."""
    push_retries_per_window: int = Field(32, ge=0, le=65536)
    """Pushes sent again per window at most (to peers that did not answer, or admitted since), whatever N is."""
    max_probes: int = Field(16, ge=1, le=1024)
    """TCP probes of suspect or held peers started per probe round at most (`hivemind.reachability`)."""
    reconnect_pings: int = Field(8, ge=0, le=1024)
    """Known peers missing from the DHT routing table pinged per reconnect period at most (initial peers
    first, then a random few of the admitted ones): the heal after a partition, at a cost that does not grow with N."""
    direct_parts: bool = False
    """With push_to_peers: also push parts indexes, and serve this node's recent parts over a unary RPC
    (`swarm.transports.hivemind.direct_parts`), so receivers fetch big batches from their publisher, not the DHT."""
    part_cache_bytes: int = Field(64 * 1024 * 1024, ge=0, le=4 * 1024**3)
    """Bytes of own recent parts kept in memory for direct fetches (oldest dropped first)."""
    max_dht_storage_bytes: int = Field(256 * 1024 * 1024, ge=1024 * 1024, le=64 * 1024**3)
    """Bytes of values this node holds as a DHT replica (and as much again in its DHT cache); stores past
    it are refused and counted as "storage_full" (`swarm.transports.hivemind.storage_budget`)."""

    @property
    def peer_ttl_windows(self) -> int:
        """Windows a peer stays in `peers()` after its latest announcement this node read: the record lifetime,
        or longer when the announce shards take more windows than that to come round again."""
        rotation = -(-self.announce_shards // self.announce_reads_per_window)
        return max(self.record_ttl_windows, rotation + 1)

    @model_validator(mode="before")
    @classmethod
    def _refuse_renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, (new, what) in RENAMED_KEYS.items():
                if old in data:
                    raise ValueError(f"transport.{old} is now transport.{new} ({what}); rename the key")
        return data
