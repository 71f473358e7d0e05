"""The hivemind backend: the only package of sapo-swarm that imports hivemind (`tests/test_layers.py` checks it).

    from swarm.transports.hivemind.transport import HivemindTransport
    transport = await HivemindTransport.create(config, identity)

- `transport`: `HivemindTransport` (sharded gossip over a `DHTNode` in the node's own event loop)
  and `DHTRecordStore`;
- `startup`: starting and stopping the DHT node (patient start-up, bounded shutdown);
- `bootstrap_node`: the DHT node of a bootstrap peer, with the nodes' store-side validator;
- `dht_validator`: the store-side record check (`build_record_validator`), `storage_budget`: the
  replica's byte budget;
- `push`, `push_retry`, `reachability`, `reconnect`: flood publishing and healing after partitions;
- `swarm_clock`: the swarm's median clock; `direct_parts`: parts fetched from their publisher;
- `multiaddr`: the libp2p peer id inside a peer's addresses;
- `hello`: the ``sapo-swarm/hello/1`` question (versions, clock, dial-back), `libp2p_key`: a stable daemon key
  derived from the identity, `probe`: bootstrap checks and hello questions through a throwaway daemon.

Nothing is imported here, so ``import swarm.transports.hivemind.multiaddr`` loads only what it needs.
"""
