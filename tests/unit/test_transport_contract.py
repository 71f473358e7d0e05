"""Every transport implements what `Node` needs (`node.transport.NodeTransport`), memory and null included."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from node.transport import NodeTransport
from protocol import Identity
from swarm.transports import TRANSPORTS, MemoryHub, TransportConfig, build_transport
from tests.unit.protocol_factories import make_batch


@pytest.mark.parametrize("kind", sorted(TRANSPORTS))
def test_every_transport_is_a_node_transport(kind: str) -> None:
    me = Identity.from_seed(b"contract")
    transport = build_transport(TransportConfig(type=kind, window_seconds=2.0), me, memory_hub=MemoryHub())
    assert isinstance(transport, NodeTransport)
    assert isinstance(transport.window(), int) and transport.window() == int(transport.clock() // 2.0)
    assert transport.stats.skipped_publishes == 0 and transport.rejections is transport.stats.rejections
    assert list(transport.peers()) == []
    for name in ("publish", "collect"):
        assert inspect.iscoroutinefunction(getattr(transport, name)), name
    if kind != "hivemind":  # the DHT one needs start() (tests/swarm)
        batch = make_batch(me, swarm_id="testnet", window=transport.window())
        asyncio.run(transport.publish(batch))
        assert asyncio.run(transport.collect(4)) == []


def test_node_never_probes_its_transport() -> None:
    """No ``getattr``/``hasattr`` on a transport in node/: the contract is typed, not probed."""
    import ast
    from pathlib import Path

    probes = []
    for path in Path(__file__).resolve().parents[2].joinpath("node").rglob("*.py"):
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in ("getattr", "hasattr"):
                if call.args and "transport" in ast.unparse(call.args[0]):
                    probes.append(f"{path.name}:{call.lineno}: {ast.unparse(call)}")
    assert not probes, probes
