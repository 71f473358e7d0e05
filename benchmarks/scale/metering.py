"""What one benchmark node process counts: every RPC it sends and serves, by kind and category, with its bytes.

Runs inside a node process of the scale benchmark (ours or the reference). `install` patches hivemind's
`P2P` class in that process, below every caller, so each unary RPC is counted exactly once:

- sent: ``P2P._call_unary_protobuf_handler`` (DHT find/store/ping, our push, part fetch, clock query), with the
  serialized request and response sizes, under the category set by the operation that caused it
  (`CATEGORY`: records, parts, announcements, pushes, reference; "other" for background work);
- served: the unary handlers as they are registered (``P2P._add_protobuf_unary_handler``), with their sizes;
  a served DHT find also counts per key id, so the driver can name the hottest key.

Bytes are protobuf message bytes (what the node's p2p layer carries for it, without libp2p's framing and
encryption); `proc_totals` adds the p2pd daemon's own counters (CPU, socket bytes) for the whole picture.

    meter = Meter()
    install(meter)                                   # before the DHT node is created
    with category("announcements"):
        await store.get(key)
    meter.snapshot()                                 # plain dict of counters, JSON-ready
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections import Counter, defaultdict
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

from protocol.keys import is_announce_key

CATEGORY: ContextVar[str] = ContextVar("scale_category", default="other")
"""The operation an outgoing RPC belongs to; asyncio tasks inherit it from the operation that started them."""

KINDS = {"rpc_find": "find", "rpc_store": "store", "rpc_ping": "ping", "/push/": "push", "/part/": "fetch", "/time/": "clock"}


def rpc_kind(handle_name: str) -> str:
    """find / store / ping / push / fetch / clock / other, from a handler's name."""
    for tail, kind in KINDS.items():
        if tail in handle_name:
            return kind
    return "other"


def key_category(key: str) -> str:
    """records / parts / announcements / reference, from a DHT key of ours or the reference's."""
    if key.startswith("ref/"):
        return "reference"
    if is_announce_key(key):
        return "announcements"
    return "parts" if "/part/" in key else "records"


@contextlib.contextmanager
def category(name: str) -> Iterator[None]:
    token = CATEGORY.set(name)
    try:
        yield
    finally:
        CATEGORY.reset(token)


class Meter:
    """Counters of one node process; `snapshot` is cumulative, the driver takes differences."""

    def __init__(self) -> None:
        self.sent: dict[str, Counter[str]] = defaultdict(Counter)
        """category -> RPC counts {"<kind>", "<kind>_failed"} and bytes: "b_out", "b_in", "b_<kind>" (both ways),
        "v_find" (values inside find answers), "n_neighbours" (neighbours listed in find answers)."""
        self.served: Counter[str] = Counter()
        """{"<kind>", "b_in", "b_out", "v_store"} of RPCs this node answered."""
        self.served_finds: Counter[str] = Counter()
        """DHT key id (hex) -> finds this node answered for it."""
        self.values: dict[str, Counter[str]] = defaultdict(Counter)
        """category -> {"read", "written", "gets", "stores"}: application value bytes (what the store layer saw)."""
        self.daemon_pid: int | None = None
        """This process's p2pd (set by the node script once its DHT node is up)."""

    def on_sent(self, handle_name: str, request_bytes: int, response: Any) -> None:
        """One RPC this node sent (``response`` None: it failed); a find's answer is split into the values it
        carried and the neighbours it listed (each ~60 bytes: node id and peer id)."""
        kind, row = rpc_kind(handle_name), self.sent[CATEGORY.get()]
        received = response.ByteSize() if response is not None else 0
        row[kind if response is not None else f"{kind}_failed"] += 1
        row["b_out"] += request_bytes
        row["b_in"] += received
        row[f"b_{kind}"] += request_bytes + received
        if kind == "find" and response is not None:
            row["v_find"] += sum(len(r.value) for r in response.results)
            row["n_neighbours"] += sum(len(r.nearest_node_ids) for r in response.results)

    def on_served(self, handle_name: str, request: Any, request_bytes: int, response_bytes: int) -> None:
        kind = rpc_kind(handle_name)
        self.served[kind] += 1
        self.served["b_in"] += request_bytes
        self.served["b_out"] += response_bytes
        if kind == "find":
            for key_id in getattr(request, "keys", ()):
                self.served_finds[bytes(key_id).hex()] += 1
        elif kind == "store":
            self.served["v_store"] += sum(len(v) for v in getattr(request, "values", ()))

    def snapshot(self) -> dict[str, Any]:
        return {"sent": {c: dict(v) for c, v in self.sent.items()}, "served": dict(self.served),
                "served_finds": dict(self.served_finds), "values": {c: dict(v) for c, v in self.values.items()},
                **proc_totals(self.daemon_pid)}


def install(meter: Meter) -> None:
    """Count every unary RPC this process sends or serves (patches the `P2P` class of this process only)."""
    from hivemind.p2p import P2P

    call, add = P2P._call_unary_protobuf_handler, P2P._add_protobuf_unary_handler

    async def counted_call(self: P2P, peer_id: Any, handle_name: str, input: Any, output_type: Any) -> Any:
        size = input.ByteSize()
        try:
            response = await call(self, peer_id, handle_name, input, output_type)
        except BaseException:
            meter.on_sent(handle_name, size, None)
            raise
        meter.on_sent(handle_name, size, response)
        return response

    async def counted_add(self: P2P, handle_name: str, handler: Any, input_type: Any, balanced: bool = False) -> None:
        async def counted_handler(request: Any, context: Any) -> Any:
            response = await handler(request, context)
            meter.on_served(handle_name, request, request.ByteSize(), response.ByteSize())
            return response

        await add(self, handle_name, counted_handler, input_type, balanced=balanced)

    P2P._call_unary_protobuf_handler, P2P._add_protobuf_unary_handler = counted_call, counted_add


class MeteredStore:
    """A `RecordStore` wrapper: sets `CATEGORY` from the key around each call, counts value bytes and calls."""

    def __init__(self, inner: Any, meter: Meter) -> None:
        self.inner, self.meter = inner, meter

    def time(self) -> float:
        return self.inner.time()

    async def store(self, key: str, subkey: str, value: bytes, expiration: float) -> bool:
        cat = key_category(key)
        self.meter.values[cat]["stores"] += 1
        self.meter.values[cat]["written"] += len(value)
        with category(cat):
            return await self.inner.store(key, subkey, value, expiration)

    async def get(self, key: str, latest: bool = True) -> Any:
        cat = key_category(key)
        with category(cat):
            found = await self.inner.get(key, latest)
        self.meter.values[cat]["gets"] += 1
        self.meter.values[cat]["read"] += sum(len(v) for v, _ in found.values() if isinstance(v, bytes))
        return found


def _proc_stat(pid: int | str) -> tuple[float, int, int]:
    """(CPU seconds, bytes read, bytes written by syscalls) of a process; zeros if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(io["rchar"]), int(io["wchar"])
    except (OSError, ValueError, IndexError, KeyError):
        return 0.0, 0, 0


def proc_totals(daemon_pid: int | None) -> dict[str, float]:
    """CPU seconds of this process and of its p2pd, and what p2pd read and wrote on its sockets: p2pd relays
    every byte between this process and the network, so its reads are about the node's bytes in plus out."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu, rchar, wchar = _proc_stat(daemon_pid) if daemon_pid else (0.0, 0, 0)
    return {"cpu_python_s": ru.ru_utime + ru.ru_stime, "cpu_p2pd_s": cpu, "p2pd_read": rchar, "p2pd_written": wchar}
