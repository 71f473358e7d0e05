"""Telling bootstrap failures apart, and what a node decides from them (issue 23, item 1): pure units and
loopback sockets only; the real-process versions are in tests/swarm/test_join_swarm.py."""

from __future__ import annotations

import asyncio
import socket

import pytest

from swarm import preflight as preflight_mod
from swarm.diagnose import BootstrapCheck, classify_dial_error, tcp_checks
from swarm.maddr import AddressError, check_peer_id, parse_peer_maddr
from swarm.preflight import JoinError, preflight
from swarm.transports.config import TransportConfig
from swarm.transports.hivemind import probe as probe_mod

PID = "12D3KooWB1hQkagaJHDL3s8TAvLYHjCnweX1Yixsg1JNFwLdyrk9"
OTHER = "12D3KooWPs1ceg8cAJeDeZDte7eJQSQTc1Z8F1hnc3PB3aLGCUyv"
# what p2pd 1.1 answered in a real dial (swarm/diagnose.py's tests of the text it parses)
MISMATCH = (f"Connect failed. msg=failed to dial: failed to dial {PID}: all dials failed\n  * [/ip4/127.0.0.1/tcp/42425] "
            f"failed to negotiate security protocol: peer id mismatch: expected {PID}, but remote key matches {OTHER}")
REFUSED = (f"Connect failed. msg=failed to dial: failed to dial {PID}: all dials failed\n  * [/ip4/127.0.0.1/tcp/1] "
           "dial tcp4 127.0.0.1:1: connect: connection refused")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ addresses (no network)


@pytest.mark.parametrize("text, says", [
    ("/ip4/1.2.3.4/tcp/31337", "has no /p2p/<peer id>"),
    (f"/ip4/1.2.3.4/tcp/31337/p2p/{PID[:-1]}", "is not a libp2p peer id"),
    (f"/ip4/1.2.3.4/tcp/31337/p2p/{PID}a", "is not a libp2p peer id"),
    (f"/ip4/1.2.3.4/tcp/31337/p2p/{PID.replace('K', 'l')}", "is not base58"),
    (f"/ip4/1.2.3/tcp/31337/p2p/{PID}", "is not an ip4 address"),
    (f"/ip4/example.org/tcp/31337/p2p/{PID}", "for a name use /dns4/example.org"),
    (f"/ip4/1.2.3.4/tcp/99999/p2p/{PID}", "is not a port"),
    (f"/ip4/1.2.3.4/31337/p2p/{PID}", "expected /tcp/PORT"),
    ("/dns4/<bootstrap-host>/tcp/31337/p2p/<bootstrap-peer-id>", "is a placeholder"),
    (f"1.2.3.4:31337/p2p/{PID}", "is not a multiaddr"),
])
def test_incomplete_addresses_are_named_with_their_fix(text: str, says: str) -> None:
    with pytest.raises(AddressError, match=None) as err:
        parse_peer_maddr(text)
    assert says in str(err.value), str(err.value)


def test_full_addresses_parse() -> None:
    a = parse_peer_maddr(f"/dns4/boot.example.org/tcp/31337/p2p/{PID}")
    assert (a.family, a.host, a.port, a.peer_id, a.tcp) == ("dns4", "boot.example.org", 31337, PID, True)
    assert parse_peer_maddr(f"/ip6/::1/udp/4001/quic-v1/p2p/{PID}").transport == "udp"
    assert check_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N") is None


def test_dial_errors_are_classified_from_the_daemons_text() -> None:
    assert classify_dial_error(MISMATCH) == ("other_peer", "peer id mismatch", OTHER)
    assert classify_dial_error(REFUSED)[0] == "refused"
    assert classify_dial_error("failed to negotiate security protocol: EOF")[0] == "not_libp2p"


def test_each_verdict_explains_itself_and_says_if_waiting_helps() -> None:
    maddr = f"/ip4/127.0.0.1/tcp/4001/p2p/{PID}"
    other = BootstrapCheck(maddr, "other_peer", actual_peer_id=OTHER)
    assert other.definitive and "restarted with a new identity" in other.explain() and OTHER in other.explain()
    assert "--identity" in other.explain()
    assert BootstrapCheck(maddr, "refused").definitive and "connection refused" in BootstrapCheck(maddr, "refused").explain()
    timeout = BootstrapCheck(maddr, "timeout", "5 s")
    assert not timeout.definitive and "may be transient" in timeout.explain()


# ------------------------------------------------------------------ TCP step on loopback


def test_tcp_step_tells_refused_from_listening_and_malformed() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        up = f"/ip4/127.0.0.1/tcp/{listener.getsockname()[1]}/p2p/{PID}"
        down = f"/ip4/127.0.0.1/tcp/{free_port()}/p2p/{PID}"
        checks = asyncio.run(tcp_checks([up, down, "/ip4/127.0.0.1/tcp/1"], timeout_s=2))
    assert [c.verdict for c in checks] == ["ok", "refused", "malformed"]


def test_tcp_step_times_out_on_a_full_backlog() -> None:
    """A listener that never accepts, its backlog filled: the kernel drops further SYNs, as a firewall would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                fillers.append(s)
            (check,) = asyncio.run(tcp_checks([f"/ip4/127.0.0.1/tcp/{port}/p2p/{PID}"], timeout_s=1))
        finally:
            for s in fillers:
                s.close()
    assert check.verdict == "timeout" and not check.definitive


# ------------------------------------------------------------------ the start-up policy


def _fake_probe(monkeypatch: pytest.MonkeyPatch, verdicts: list[str]) -> None:
    class Probe:
        def __init__(self, timeout_s: float) -> None:
            pass

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return None

        async def check(self, maddrs):
            return [BootstrapCheck(m, v, "5 s" if v == "timeout" else "") for m, v in zip(maddrs, verdicts)]

        async def hello(self, check, **kw):
            return None

    monkeypatch.setattr(probe_mod, "BootstrapProbe", Probe)  # preflight imports it when it needs it


def _config(n: int, **kw) -> TransportConfig:
    return TransportConfig(initial_peers=[f"/ip4/127.0.0.1/tcp/{4000 + i}/p2p/{PID}" for i in range(n)],
                           host_maddrs=["/ip4/127.0.0.1/tcp/0"], **kw)


def test_every_bootstrap_definitively_wrong_fails_the_join(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_probe(monkeypatch, ["refused", "other_peer"])
    with pytest.raises(JoinError) as err:
        asyncio.run(preflight(_config(2)))
    assert err.value.reason == "bootstrap" and "waiting will not fix it" in str(err.value)
    assert "connection refused" in str(err.value) and "restarted with a new identity" in str(err.value)


def test_a_transient_failure_keeps_silo_and_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_probe(monkeypatch, ["refused", "timeout"])
    plan = asyncio.run(preflight(_config(2)))
    assert not plan.joinable and any("may be transient" in n for n in plan.notes)


def test_one_good_bootstrap_is_enough_and_loopback_skips_the_dial_back(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_probe(monkeypatch, ["refused", "ok"])
    plan = asyncio.run(preflight(_config(2)))
    assert plan.joinable and plan.reachability == "loopback" and plan.config.reachability == "auto"
    assert plan.config.host_maddrs[0] != "/ip4/127.0.0.1/tcp/0"  # port 0 became the free port the node will use
    assert any("chosen at random" in n for n in plan.notes)


def test_a_taken_port_refuses_the_start_naming_a_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = TransportConfig(host_maddrs=[f"/ip4/127.0.0.1/tcp/{port}"])
        with pytest.raises(JoinError) as err:
            asyncio.run(preflight(config))
    assert err.value.reason == "port_in_use" and f"port {port}" in str(err.value) and "--port" in str(err.value)


def test_not_dialable_makes_a_dht_client_and_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_probe(monkeypatch, ["ok"])

    async def dial_back(probe, checks, config, ports):
        return False, "203.0.113.9:40000"

    monkeypatch.setattr(preflight_mod, "dial_back", dial_back)
    config = _config(1).model_copy(update={"host_maddrs": [f"/ip4/0.0.0.0/tcp/{free_port()}"]})
    plan = asyncio.run(preflight(config))
    assert plan.reachability == "not dialable" and plan.config.reachability == "private"
    port = plan.config.host_maddrs[0].rsplit("/", 1)[1]
    assert any(f"--announce-maddr /ip4/203.0.113.9/tcp/{port}" in n for n in plan.notes), plan.notes
