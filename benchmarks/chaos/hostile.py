"""T5, hostile records from an insider: each class once (counted under its reason), forged answers and
TaskRefs through a learning node's intake, then every class at 10 records/s during the honest workload.

    attacker = swarm.spawn_extra(n, swarm.config, swarm.attacker_seed, script=ATTACKER_SCRIPT)
    row = t5_hostile(swarm, attacker); row["forged_claims"] = t5_forged_claims(swarm, attacker)
    rate_row = t5_stream(swarm, attacker, 60)
"""

from __future__ import annotations

import json
import time
from collections import Counter

from benchmarks.chaos.swarm import CONFIG, Swarm, group_cpu_s
from benchmarks.chaos.workload import Phase, cycle, delivery, rejections, run_phase
from tests.chaos.hostile import CLASSES
from tests.swarm.helpers import NodeProcess


def t5_hostile(swarm: Swarm, attacker: NodeProcess, extra_kinds: tuple[str, ...] = ()) -> dict:
    rows = {}
    victim = swarm.slots[0].node.peer_id
    phase = Phase("T5")
    for k, kind in enumerate([*CLASSES, *extra_kinds]):
        reason, accept = CLASSES.get(kind, ("over_quota", CONFIG.get("max_records_per_peer_per_window", 4)))
        before = rejections(swarm)
        inj = attacker.request("inject", timeout=60, kind=kind, victim=victim, tag=f"b{k}", ttl_s=8.0)
        for j in range(3):
            cycle(swarm, phase, k * 10 + j)
            time.sleep(0.4)
        after = rejections(swarm)
        hostile = Counter(i for (i, _, bid) in phase.accepted if bid.startswith(f"hostile-{kind}") and bid.endswith(f"-b{k}"))
        per_node = {i: after[i] - before.get(i, Counter()) for i in after}
        counted = [per_node[i][reason] for i in per_node] if reason else [0]
        other = sum((Counter({r: c for r, c in d.items() if r != reason}) for d in per_node.values()), Counter())
        rows[kind] = {"reason": reason or "(store fails: never reaches a receiver)", "injected": inj["injected"],
                      "stored_replicas": inj.get("stored"), "rejected_min": min(counted), "rejected_max": max(counted),
                      "accepted_max": max(hostile.values(), default=0), "accepted_allowed": accept,
                      "other_reasons": dict(other), "error": inj.get("error")}
    phase.notes["end"] = time.time()
    return {"classes": rows, "honest_during_T5": delivery(swarm, phase)}


def t5_forged_claims(swarm: Swarm, attacker: NodeProcess) -> dict:
    """The attacker publishes one batch of each forged-claims class (`tests/chaos/forged_claims.py`): valid
    records whose content lies. Every honest node collects them through a learning node's intake (re-score
    with its own verifier, rebuild every TaskRef): per class, nodes that received it, what their intake
    counted, and the highest reward a receiver gives the forged completions (claimed 1.0; must be 0)."""
    from tests.chaos.forged_claims import INTAKE_CLASSES

    rows, phase = {}, Phase("T5claims")
    for k, kind in enumerate(INTAKE_CLASSES):
        pub = attacker.request("publish_forged", timeout=60, kind=kind, tag=f"c{k}")
        seen: dict[int, dict] = {}
        for j in range(4):
            for i, r in cycle(swarm, phase, 100 * k + j, rescore=True).items():
                seen.update({i: v for bid, v in r.get("intake", {}).items() if bid == pub["batch_id"]})
            time.sleep(0.4)
        counts = [v["counts"] for v in seen.values()]
        rescored = [v["rescored_max"] for v in seen.values() if v["rescored_max"] is not None]
        expected = INTAKE_CLASSES[kind]
        rows[kind] = {"published": pub.get("stored"), "groups": pub.get("groups"), "receivers": len(seen),
                      "counted_as_expected": sum(c == expected for c in counts), "expected_counts": expected,
                      "counts_seen": [dict(c) for c in {json.dumps(c, sort_keys=True): c for c in counts}.values()],
                      "claimed_reward": max((v["claimed_max"] for v in seen.values()), default=None),
                      "rescored_reward_max": max(rescored, default=None),
                      "verdict": "PASS" if seen and all(c == expected for c in counts) and max(rescored, default=0.0) == 0.0 else "FAIL"}
        print(f"  T5 {kind}: received by {len(seen)} honest nodes, intake counted {rows[kind]['counts_seen']}, "
              f"claimed reward {rows[kind]['claimed_reward']}, re-scored max {rows[kind]['rescored_reward_max']}: {rows[kind]['verdict']}", flush=True)
    return rows


T5_RATE = 10.0
"""Records per second per hostile class in the sustained T5 (`tests/chaos/hostile_stream.py`)."""


def t5_stream(swarm: Swarm, attacker: NodeProcess, seconds: float, rate: float = T5_RATE) -> dict:
    """Every hostile class at `rate` records/s, all at once, for `seconds`, during the honest workload (T0 load).

    Each record is stored into the DHT, where the honest replicas check it (and count what they refuse);
    what they keep is read and refused by the receivers. Per reason: records injected under it (summed over
    its classes), refusals counted by the honest nodes (total, and per node min-max), and how many nodes
    counted it. A record kept by the replicas sits under the attacker's slot subkey until the attacker's
    next record overwrites it: a receiver refuses each one it reads, and never sees those overwritten
    between two of its reads (nothing to refuse, nothing accepted)."""
    victim = swarm.slots[0].node.peer_id
    live = swarm.live()
    before, cpu0 = rejections(swarm), {s.index: group_cpu_s(s.node.pgid) for s in live}
    t0 = time.time()
    started = attacker.request("stream", timeout=30, rate=rate, victim=victim, tag="r")
    phase = run_phase(swarm, Phase("T5rate"), seconds, drain_s=0.0)
    sent = attacker.request("flood_stop", timeout=60)
    t1 = time.time()
    cpu1 = {s.index: group_cpu_s(s.node.pgid) for s in swarm.live()}
    k = 10**6
    while time.time() < t1 + 5.0:  # the last honest records, and the last hostile ones still in the DHT
        cycle(swarm, phase, k, publish=False)
        k += 1
        time.sleep(0.5)
    phase.notes["end"] = time.time()
    after = rejections(swarm)
    honest = delivery(swarm, phase)
    per_node = {i: after[i] - before.get(i, Counter()) for i in after}
    injected = Counter()
    for kind, n in sent.get("built", {}).items():
        injected[CLASSES[kind][0]] += n
    reasons = {}
    for reason in sorted(set(injected) | {r for c in per_node.values() for r in c}):
        counts = [per_node[i][reason] for i in per_node]
        reasons[reason] = {"injected": injected[reason], "rejected_total": sum(counts), "rejected_min": min(counts, default=0),
                           "rejected_max": max(counts, default=0), "nodes_counting": sum(c > 0 for c in counts)}
    hostile_accepted = sum(1 for (_, _, bid) in phase.accepted if bid.startswith("hostile-"))
    wall = t1 - t0
    verdicts = {
        "0 hostile accepted": hostile_accepted == 0,
        "every injected reason counted": all(reasons[r]["rejected_total"] > 0 for r in injected),
        "honest delivery 100%": honest["delivery_ratio"] == 1.0,
        "no honest crash": not swarm.crashes,
    }
    row = {
        **honest,
        "attack": f"{len(started.get('kinds', []))} classes at {rate:.0f} records/s each for {seconds:.0f} s from one insider key; "
                  f"achieved {sent.get('rate_achieved_per_class')} records/s/class ({sent.get('sent')} records, "
                  f"skipped while behind {sent.get('behind')}, stores acknowledged {sent.get('stored')})",
        "built": sent.get("built"), "hostile_accepted": hostile_accepted, "reasons": reasons,
        "cpu_cores_max": round(max(((cpu1[i] - cpu0[i]) / wall for i in cpu1 if i in cpu0), default=0.0), 2),
        "verdicts": ", ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in verdicts.items()),
    }
    print(f"  T5 at rate: {row['attack']}; honest CPU max {row['cpu_cores_max']} cores/node", flush=True)
    print("\n".join(f"  {line}" for line in reason_table(reasons)))
    print(f"  hostile accepted {hostile_accepted}; honest delivery {honest['delivery_ratio']} (p99 {honest['latency_p99_s']} s)\n"
          f"  {row['verdicts']}", flush=True)
    return row


def reason_table(reasons: dict[str, dict]) -> list[str]:
    """T5 at rate, per reason: records injected, refusals over all honest nodes, per node min-max, nodes counting."""
    lines = [f"{'reason':<18}{'injected':>9}{'refused (all nodes)':>21}{'per node':>12}{'nodes':>7}"]
    for reason, r in reasons.items():
        per_node = f"{r['rejected_min']}-{r['rejected_max']}"
        lines.append(f"{reason:<18}{r['injected']:>9}{r['rejected_total']:>21}{per_node:>12}{r['nodes_counting']:>7}")
    return lines
