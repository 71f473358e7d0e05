"""Reachability: hold a peer whose calls keep failing, and let it go when a TCP probe answers
(swarm/transports/hivemind/reachability.py). The probes connect to real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

from swarm.transports.hivemind.reachability import Reachability, tcp_address


def test_tcp_address_takes_the_first_tcp_multiaddr() -> None:
    assert tcp_address(["/ip4/10.0.0.2/udp/9/quic", "/ip4/10.0.0.2/tcp/4001/p2p/12D3Koo"]) == ("10.0.0.2", 4001)
    assert tcp_address(["/ip6/::1/tcp/7/p2p/x"]) == ("::1", 7)
    assert tcp_address(["/dns4/example.org/tcp/1", "/ip4/9.9.9.9/tcp/4001/p2p/QmRelay/p2p-circuit/p2p/QmPeer"]) is None


def test_failures_in_a_row_make_a_suspect_that_a_refused_probe_holds_and_a_success_releases() -> None:
    async def main() -> None:
        reach, back = Reachability(fail_threshold=2), []
        reach.on_back = back.append
        reach.learn("p", [f"/ip4/127.0.0.1/tcp/{_closed_port()}"])
        reach.result("p", False)
        reach.result("p", True)  # an answer in between: the count starts again
        reach.result("p", False)
        await reach.probe_due()
        assert not reach.held("p") and reach.probes == 0
        reach.result("p", False)
        assert not reach.held("p")  # a suspect: calls still go out until the probe judges
        await reach.probe_due()
        assert reach.held("p") and reach.holds == 1
        reach.result("p", True)
        assert not reach.held("p") and back == ["p"]
        reach.result("p", False)
        reach.result("p", False)
        reach.result("p", True)  # a suspect that answers before its probe is no longer one
        probes = reach.probes
        await reach.probe_due()
        assert not reach.held("p") and reach.probes == probes

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_suspect_whose_address_accepts_is_not_held() -> None:
    async def main() -> None:
        reach = Reachability(fail_threshold=1)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        async with server:
            reach.learn("busy", [f"/ip4/127.0.0.1/tcp/{server.sockets[0].getsockname()[1]}"])
            reach.result("busy", False)  # e.g. a timeout under load: the path is fine
            await reach.probe_due()
        assert not reach.held("busy") and reach.cleared == 1 and reach.failures == {}

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_peer_without_a_tcp_address_is_never_held() -> None:
    async def main() -> None:
        reach = Reachability(fail_threshold=1)
        reach.result("q", False)
        reach.learn("r", ["/ip4/1.2.3.4/udp/5/quic"])
        reach.result("r", False)
        assert await reach.probe_due() == 0 and reach.held_peers() == [] and reach.probes == 0

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_held_peer_announced_at_a_new_address_is_released() -> None:
    async def main() -> None:
        reach, old = Reachability(fail_threshold=1), _closed_port()
        reach.learn("p", [f"/ip4/127.0.0.1/tcp/{old}"])
        reach.result("p", False)
        await reach.probe_due()
        reach.learn("p", [f"/ip4/127.0.0.1/tcp/{old}"])
        assert reach.held("p")
        reach.learn("p", [f"/ip4/127.0.0.1/tcp/{old + 1}"])  # restarted on another port
        assert not reach.held("p")

    asyncio.run(asyncio.wait_for(main(), 10))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_probe_releases_a_peer_once_its_port_accepts() -> None:
    async def main() -> None:
        reach, back = Reachability(fail_threshold=1, probe_timeout_s=1.0), []
        reach.on_back = back.append
        port = _closed_port()
        reach.learn("p", [f"/ip4/127.0.0.1/tcp/{port}"])
        reach.result("p", False)
        assert await reach.probe_due() == 0 and reach.held("p")  # nothing listens: held
        assert await reach.probe_due() == 0 and reach.held("p")  # still nothing
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        async with server:
            assert await reach.probe_due() == 1
        assert not reach.held("p") and back == ["p"] and reach.probes == 3

    asyncio.run(asyncio.wait_for(main(), 10))


def test_the_probe_loop_runs_in_the_background() -> None:
    async def main() -> None:
        reach = Reachability(fail_threshold=1, probe_period_s=0.05)
        released = asyncio.Event()
        reach.on_back = lambda peer: released.set()
        port = _closed_port()
        reach.learn("p", [f"/ip4/127.0.0.1/tcp/{port}"])
        reach.result("p", False)
        await reach.start()
        while not reach.held("p"):
            await asyncio.sleep(0.01)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        async with server:
            await asyncio.wait_for(released.wait(), 5)
            await reach.stop()
        assert not reach.held("p")

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_peer_held_too_long_is_let_go_without_a_probe_answer() -> None:
    async def main() -> None:
        reach = Reachability(fail_threshold=1, forget_s=0.0)
        reach.learn("p", [f"/ip4/127.0.0.1/tcp/{_closed_port()}"])
        reach.result("p", False)
        await reach.probe_due()
        assert reach.held("p")
        await asyncio.sleep(0.01)
        await reach.probe_due()
        assert not reach.held("p") and reach.failures == {}

    asyncio.run(asyncio.wait_for(main(), 10))


def test_dht_calls_to_a_held_peer_fail_at_once_and_others_count() -> None:
    from swarm.transports.hivemind.transport import hold_dht_calls

    class Protocol:  # the three calls of hivemind's DHTProtocol that dial a peer
        def __init__(self) -> None:
            self.called: list[str] = []

        async def call_ping(self, peer, *args, **kwargs):
            self.called.append(peer)
            return None if peer == "dead" else "id"

        call_store = call_find = call_ping

    async def main() -> None:
        protocol, reach = Protocol(), Reachability(fail_threshold=2)
        reach.learn("dead", [f"/ip4/127.0.0.1/tcp/{_closed_port()}"])
        hold_dht_calls(protocol, reach)
        assert await protocol.call_find("dead", ["k"]) is None and await protocol.call_store("dead", ["k"], ["v"], 1.0) is None
        await reach.probe_due()
        assert reach.held("dead") and protocol.called == ["dead", "dead"]
        assert await protocol.call_ping("dead") is None and protocol.called == ["dead", "dead"]  # held: no dial
        assert await protocol.call_ping("alive", validate=True) == "id" and not reach.held("alive")

    asyncio.run(asyncio.wait_for(main(), 10))


def test_addresses_and_failures_stay_bounded_but_held_peers_are_kept() -> None:
    reach = Reachability(fail_threshold=1, max_peers=8)
    reach.learn("held", ["/ip4/127.0.0.1/tcp/9"])
    reach._held["held"] = 0.0  # as a refused probe leaves it
    for i in range(100):
        reach.learn(f"p{i}", [f"/ip4/127.0.0.1/tcp/{1000 + i}"])
        reach.result(f"q{i}", False)
    assert len(reach.addresses) == 8 and "held" in reach.addresses and "p99" in reach.addresses
    assert len(reach.failures) == 8
