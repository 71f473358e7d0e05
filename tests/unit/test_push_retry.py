"""PushLedger: which recent pushes go out again, and to whom (swarm/transports/hivemind/push_retry.py)."""

from __future__ import annotations

from swarm.transports.hivemind.push_retry import PushLedger


def test_a_peer_that_did_not_answer_gets_the_record_again_until_it_answers() -> None:
    ledger = PushLedger(keep_windows=2)
    out = ledger.add("k", "s0", window=10, request="req")
    ledger.sent(out, ["a", "b"])
    assert ledger.due(10, ["a", "b"], fanout=8) == []  # both still in flight
    ledger.answered(out, ["a", "b"], ["ok", None])
    assert [(o.subkey, peers) for o, peers in ledger.due(10, ["a", "b"], fanout=8)] == [("s0", ["b"])]
    ledger.sent(out, ["b"])
    ledger.answered(out, ["b"], [None])
    assert ledger.due(11, ["a"], fanout=8)[0][1] == ["b"]  # still failed, even when no longer admitted
    ledger.sent(out, ["b"])
    ledger.answered(out, ["b"], ["ok"])
    assert ledger.due(11, ["a", "b"], fanout=8) == []


def test_peers_admitted_later_are_filled_up_to_the_fanout() -> None:
    ledger = PushLedger(keep_windows=2)
    out = ledger.add("k", "s0", window=5, request="req")
    ledger.sent(out, ["a"])
    ledger.answered(out, ["a"], ["ok"])
    (got, peers), = ledger.due(5, ["a", "b", "c", "d"], fanout=3)
    assert got is out and peers == ["b", "c"]


def test_records_leave_once_out_of_the_read_range() -> None:
    ledger = PushLedger(keep_windows=2)
    for w in (3, 4, 5):
        ledger.sent(out := ledger.add("k", f"s{w}", window=w, request=w), ["a"])
        ledger.answered(out, ["a"], [None])
    assert sorted(o.window for o, _ in ledger.due(5, [], fanout=8)) == [4, 5]
    assert sorted(o.window for o in ledger.records.values()) == [4, 5]
    assert ledger.due(7, [], fanout=8) == [] and not ledger.records


def test_the_ledger_is_bounded() -> None:
    ledger = PushLedger(keep_windows=2, max_records=4)
    for i in range(10):
        ledger.add("k", f"s{i}", window=1, request=i)
    assert [o.subkey for o in ledger.records.values()] == ["s6", "s7", "s8", "s9"]


def test_a_held_peer_keeps_its_place_but_is_not_pushed_to() -> None:
    ledger = PushLedger(keep_windows=2)
    out = ledger.add("k", "s0", window=5, request="req")
    ledger.sent(out, ["a", "b"])
    ledger.answered(out, ["a", "b"], [None, None])
    (_, peers), = ledger.due(5, ["a", "b", "c"], fanout=2, skip={"a"})
    assert peers == ["b"]  # "a" still counts against the fanout: "c" does not take its slot
    ledger.sent(out, ["b"])
    ledger.answered(out, ["b"], ["ok"])
    (_, peers), = ledger.due(5, ["a", "b", "c"], fanout=2)  # released: its turn again
    assert peers == ["a"]


def test_retries_stay_within_the_budget_newest_records_first() -> None:
    ledger = PushLedger(keep_windows=4)
    admitted = [f"p{i}" for i in range(1000)]  # a large swarm: the fanout, not N, sets what is due
    for w in (7, 8):
        ledger.sent(ledger.add("k", f"s{w}", window=w, request=w), [])
    plan = ledger.due(8, admitted, fanout=8, budget=10)
    assert [(o.subkey, len(peers)) for o, peers in plan] == [("s8", 8), ("s7", 2)]
    assert ledger.due(8, admitted, fanout=8, budget=0) == []
    assert sum(len(p) for _, p in ledger.due(8, admitted, fanout=8)) == 16  # no budget: each record up to its fanout
