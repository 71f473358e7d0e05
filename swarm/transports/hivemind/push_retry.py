"""Which of a publisher's recent pushes to send again, and to whom. Pure bookkeeping: no I/O, no clock.

A push that timed out (the peer was unreachable: a partition, a restart) is not lost: while its record
is still in the read range (the current and previous windows), the publisher pushes it again to the
peers that did not answer, and to admitted peers it has not reached yet, up to the fanout. After a
partition heals this is what brings the last windows across within a window; the DHT alone does not,
because each side's replicas answer a lookup with their own side's copy of the shard key.

    ledger = PushLedger(keep_windows=2)
    out = ledger.add(key, subkey, window, request)
    ledger.sent(out, targets)
    ledger.answered(out, targets, answers)          # an answer (any response) counts as delivered
    for out, peers in ledger.due(now_window, admitted, fanout, budget=32): ...

Reference: gossipsub v1.1 keeps a message cache of recent windows and serves it on IWANT; this is the
publisher-side equivalent without a mesh.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Collection, Hashable, Iterable, Sequence


@dataclass
class Outgoing:
    """One of our records and who has it."""

    key: str
    subkey: str
    window: int
    request: Any
    """What is pushed (a `dht_pb2.StoreRequest`)."""
    delivered: set[Hashable] = field(default_factory=set)
    """Peers that answered a push of it."""
    failed: set[Hashable] = field(default_factory=set)
    """Peers that did not answer (timeout or error) and have not answered since."""
    in_flight: set[Hashable] = field(default_factory=set)
    """Peers a push is on its way to: never pushed again before it ends."""


class PushLedger:
    def __init__(self, keep_windows: int, max_records: int = 256) -> None:
        self.keep_windows = max(1, keep_windows)
        self.max_records = max_records
        self.records: OrderedDict[tuple[str, str], Outgoing] = OrderedDict()
        self.retried = 0

    def add(self, key: str, subkey: str, window: int, request: Any) -> Outgoing:
        out = Outgoing(key, subkey, window, request)
        self.records[(key, subkey)] = out
        self.records.move_to_end((key, subkey))
        while len(self.records) > self.max_records:
            self.records.popitem(last=False)
        return out

    def sent(self, out: Outgoing, targets: Iterable[Hashable]) -> None:
        out.in_flight.update(targets)

    def answered(self, out: Outgoing, targets: Sequence[Hashable], answers: Sequence[Any]) -> None:
        for peer, answer in zip(targets, answers):
            out.in_flight.discard(peer)
            if answer is None:
                if peer not in out.delivered:
                    out.failed.add(peer)
            else:
                out.delivered.add(peer)
                out.failed.discard(peer)

    def due(self, now_window: int, admitted: Sequence[Hashable], fanout: int,
            skip: Collection[Hashable] = (), budget: int | None = None) -> list[tuple[Outgoing, list[Hashable]]]:
        """Records still in the read range, each with the peers to push it to now: those that failed, then
        admitted peers not tried yet while fewer than `fanout` have it; never a peer in `skip` (held: it
        keeps its place among the failed). At most `budget` pushes in all (None: no cap), newest records
        first: a swarm's size or a partition never makes retries unbounded. Forgets records out of range."""
        oldest = now_window - self.keep_windows + 1
        for name in [name for name, out in self.records.items() if out.window < oldest]:
            del self.records[name]
        plan = []
        left = budget if budget is not None else len(self.records) * (fanout + len(admitted))
        for out in reversed(self.records.values()):
            if left <= 0:
                break
            if out.window > now_window:
                continue
            busy = out.delivered | out.in_flight
            waiting = [p for p in out.failed if p not in busy]
            room = fanout - len(out.delivered) - len(out.in_flight) - len(waiting)
            waiting += [p for p in admitted if p not in busy and p not in out.failed][:max(0, room)]
            peers = [p for p in waiting if p not in skip][:left]
            if peers:
                left -= len(peers)
                plan.append((out, peers))
                self.retried += len(peers)
        return plan
