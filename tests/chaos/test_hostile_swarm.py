"""T5 and T7p: every hostile record class against a real 3-node DHT swarm with an attacker insider.

For each class: the attacker stores its records straight into the DHT; every honest node keeps
collecting until an honest batch published meanwhile has reached it. Then, per honest node: no hostile
record was accepted, the class's reason was counted once per injected record (store-side refusal or
read-side rejection, whichever saw it first: both count into `stats.rejections`), no other reason was
counted, and the honest batch arrived intact. Also: the same classes pushed straight to the honest
nodes, forged answers and TaskRefs through a learning node's intake, and every class at 10 records/s.
"""

from __future__ import annotations

import time
from collections import Counter
from types import SimpleNamespace
from typing import Callable

import pytest

from tests.chaos.conftest import CHAOS_CONFIG, ChaosSwarm
from tests.chaos.forged_claims import INTAKE_CLASSES
from tests.chaos.hostile import CLASSES
from tests.swarm.helpers import NodeProcess, start_node
from tests.swarm.node_proc import make_batch

pytestmark = [pytest.mark.swarm, pytest.mark.slow]


def rejections(node: NodeProcess) -> Counter[str]:
    return Counter(node.request("stats")["rejections"])


def collect_round(swarm: ChaosSwarm, publisher: NodeProcess, batch_id: str,
                  expected: Callable[[NodeProcess, Counter], bool], deadline: float) -> dict[str, list[dict]]:
    """Collect on every honest node until each saw `batch_id` from `publisher` and its counts settled."""
    got: dict[str, list[dict]] = {n.peer_id: [] for n in swarm.honest}
    before = {n.peer_id: rejections(n) for n in swarm.honest}
    while time.time() < deadline:
        for node in swarm.honest:
            got[node.peer_id] += node.request("collect", max=256)["batches"]
        delivered = all((publisher.peer_id, batch_id) in {(b["sender"], b["batch_id"]) for b in got[n.peer_id]}
                        for n in swarm.honest if n is not publisher)
        if delivered and all(expected(n, before[n.peer_id]) for n in swarm.honest):
            break
        time.sleep(0.3)
    return got


@pytest.mark.timeout(40)
@pytest.mark.parametrize("kind", list(CLASSES))
def test_hostile_class_rejected_and_counted(chaos_swarm: ChaosSwarm, kind: str) -> None:
    reason, accept = CLASSES[kind]
    honest, attacker = chaos_swarm.honest, chaos_swarm.attacker
    victim = honest[0]
    before = {n.peer_id: rejections(n) for n in honest}
    sent = victim.request("publish", batch_id=f"h-{kind}", size=300)
    inj = attacker.request("inject", timeout=30, kind=kind, victim=victim.peer_id, tag=kind)
    expected_count = 0 if not reason else inj["injected"] - accept

    def settled(node: NodeProcess, _: Counter) -> bool:
        return not reason or (rejections(node) - before[node.peer_id])[reason] >= expected_count

    got = collect_round(chaos_swarm, victim, f"h-{kind}", settled, time.time() + 8)
    time.sleep(0.5)
    for node in honest:  # one more read: stragglers would show up as extra counts
        got[node.peer_id] += node.request("collect", max=256)["batches"]
    for node in honest:
        delta = rejections(node) - before[node.peer_id]
        hostile = [b for b in got[node.peer_id] if b["batch_id"].startswith("hostile-")]
        assert len(hostile) == accept, (kind, node.peer_id, hostile)
        if reason:
            assert delta[reason] == expected_count, (kind, inj, dict(delta))
        assert set(delta) <= {reason}, (kind, "counted under other reasons", dict(delta))
        if node is not victim:
            mine = [b for b in got[node.peer_id] if b["batch_id"] == f"h-{kind}"]
            assert mine and mine[0]["digest"] == sent["digest"], (kind, "honest batch not delivered intact")
    assert all(n.proc.poll() is None for n in honest), "an honest node crashed"


@pytest.mark.timeout(60)
def test_outsiders_without_the_secret_get_nothing_accepted(chaos_swarm: ChaosSwarm, tmp_path) -> None:
    """T7p: a node without the swarm secret joins the DHT, publishes and reads; no honest node accepts its
    records, and what it reads of theirs is ciphertext."""
    honest = chaos_swarm.honest
    open_config = {k: v for k, v in CHAOS_CONFIG.items() if k != "swarm_secret"}
    outsider = start_node({**open_config, "initial_peers": honest[0].info["maddrs"]}, "chaos-outsider-proc", tmp_path)
    try:
        before = {n.peer_id: rejections(n) for n in honest}
        published = [outsider.request("publish", batch_id=f"out-{i}", size=200) for i in range(3)]
        sent = honest[1].request("publish", batch_id="h-t7p", size=300)
        # Reading the DHT is not prevented, but a private swarm's records are encrypted: the outsider
        # gets bytes that hold none of the completion text (read at once: records live 2 windows of 2 s).
        text = make_batch(SimpleNamespace(peer_id=honest[1].peer_id), "t-chaos", 0, "h-t7p", 300).groups[0].completions[0].text
        raw: list[bytes] = []
        for _ in range(10):
            raw = [bytes.fromhex(v) for v in outsider.request("raw_values", peer=honest[1].peer_id)["values"]]
            if raw:
                break
            time.sleep(0.2)
        assert raw, "the outsider read nothing at all"
        got: dict[str, list[dict]] = {n.peer_id: [] for n in honest}
        deadline = time.time() + 6
        while time.time() < deadline:
            for node in honest:
                got[node.peer_id] += node.request("collect", max=256)["batches"]
            time.sleep(0.3)
        for node in honest:
            assert not [b for b in got[node.peer_id] if b["sender"] == outsider.peer_id]
            delta = rejections(node) - before[node.peer_id]
            assert set(delta) <= {"wrong_secret"}, dict(delta)
            assert delta["wrong_secret"] >= 1, "the store-side check never saw the outsider's records"
            if node is not honest[1]:
                assert any(b["batch_id"] == "h-t7p" and b["digest"] == sent["digest"] for b in got[node.peer_id])
        assert len(published) == 3
        assert not [v for v in raw if text[:16].encode() in v or b"h-t7p" in v]
        assert outsider.request("stats")["accepted"] == 0
    finally:
        outsider.stop()
    assert not outsider.group_alive()


PUSHED_CLASSES = ["random_signature", "other_subkey", "flipped_bit", "moved_window", "moved_shard", "malformed_truncated",
                  "oversize_2x", "schema_nan", "wrong_secret", "wrong_swarm", "not_allowed"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", PUSHED_CLASSES)
def test_hostile_records_pushed_directly_are_rejected(chaos_swarm: ChaosSwarm, kind: str) -> None:
    """Flood publishing opens a second way in: records pushed over the p2p rpc meet the same checks."""
    honest, attacker = chaos_swarm.honest, chaos_swarm.attacker
    deadline = time.time() + 30  # a few seconds on a quiet host; a load average of 14 once needed more than 15
    while time.time() < deadline and len(attacker.request("stats")["peers"]) < len(honest):
        attacker.request("collect", max=256)  # the attacker learns the honest peers from their announcements
        time.sleep(0.3)
    before = {n.peer_id: rejections(n) for n in honest}
    accepted = {n.peer_id: n.request("stats")["accepted"] for n in honest}
    reason = CLASSES[kind][0]
    inj = attacker.request("push_inject", timeout=30, kind=kind, victim=honest[0].peer_id, tag=f"push-{kind}")
    assert inj["targets"] == len(honest), inj
    for node in honest:
        delta = rejections(node) - before[node.peer_id]
        assert delta[reason] == inj["injected"], (kind, dict(delta))
        assert set(delta) <= {reason}, (kind, dict(delta))
        assert node.request("stats")["accepted"] == accepted[node.peer_id], (kind, "a pushed hostile record was accepted")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(INTAKE_CLASSES))
def test_forged_claims_are_not_believed(chaos_swarm: ChaosSwarm, kind: str) -> None:
    """A forged answer or TaskRef is a valid record (the transport accepts it); a learning node's intake
    re-scores it with its own verifier and rebuilds each TaskRef: no forged claim is trained on as right."""
    honest, attacker = chaos_swarm.honest, chaos_swarm.attacker
    pub = attacker.request("publish_forged", timeout=60, kind=kind, tag=f"claims-{kind}")
    assert pub["stored"], pub
    seen: dict[str, dict] = {}
    deadline = time.time() + 20
    while time.time() < deadline and len(seen) < len(honest):
        for node in honest:
            intake = node.request("collect", timeout=60, max=256, rescore=True).get("intake", {})
            if pub["batch_id"] in intake:
                seen[node.peer_id] = intake[pub["batch_id"]]
        time.sleep(0.3)
    assert len(seen) == len(honest), (kind, "the forged batch did not reach every honest node", list(seen))
    for got in seen.values():
        assert got["counts"] == INTAKE_CLASSES[kind], (kind, got)
        assert got["claimed_max"] == 1.0 and got["rescored_max"] == 0.0, (kind, got)


@pytest.mark.timeout(60)
def test_every_class_at_rate_accepts_nothing_and_honest_records_arrive(chaos_swarm: ChaosSwarm) -> None:
    """T5 at rate, short: every hostile class at 10 records/s for 5 s while an honest node publishes."""
    honest, attacker = chaos_swarm.honest, chaos_swarm.attacker
    before = {n.peer_id: rejections(n) for n in honest}
    attacker.request("stream", rate=10, victim=honest[0].peer_id, tag="ci")
    sent, got = [], {n.peer_id: [] for n in honest}
    for k in range(5):
        sent.append(honest[0].request("publish", batch_id=f"h-rate-{k}", size=300))
        for node in honest:
            got[node.peer_id] += node.request("collect", max=256)["batches"]
        time.sleep(1.0)
    report = attacker.request("flood_stop", timeout=30)
    for _ in range(6):  # the last honest batch, and hostile records still readable
        for node in honest:
            got[node.peer_id] += node.request("collect", max=256)["batches"]
        time.sleep(0.5)
    assert report["behind"] == 0 and report["sent"] >= 10 * 4 * len(report["builds"]), report
    for node in honest:
        assert not [b for b in got[node.peer_id] if b["batch_id"].startswith("hostile-")], "a hostile record was accepted"
        assert sum((rejections(node) - before[node.peer_id]).values()) > 0
        if node is not honest[0]:
            assert {f"h-rate-{k}" for k in range(5)} <= {b["batch_id"] for b in got[node.peer_id]}, "an honest batch was lost"
    assert all(n.proc.poll() is None for n in honest), "an honest node crashed"
