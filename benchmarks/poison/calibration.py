"""Calibrate the plausibility defence on honest traffic, across model sizes: measured false rejections and catches.

    .venv/bin/python -m benchmarks.poison.calibration            # tiny-0.5m and tiny-1.5m, both ways (a few CPU-min)
    .venv/bin/python -m benchmarks.poison.calibration --presets smollm2-135m   # a real LM that answers in sentences

For every (receiver, sender) pair of presets: the receiver calibrates on its own completions (as a node does:
`PlausibilityDefence.observe_local`, 8 rounds of 8 questions x 16 completions), then scores a sender's honest
completions on other questions (false rejections, per completion and per group dropped whole at the node's
`group_drop_share`) and the five attacks' completions on the same questions (catches). Two settings: "alone"
(a task family with no answer shape: every completion reaches the check) and "after_shape" (chain_sum: the shape
check runs first, on the node's own completions too, so both calibration and input hold only shape-passing text).
Done for several margins, so the chosen default is read off a measured curve rather than assumed; "alone" with
the lowest token log-prob of every completion (the defence's `statistic: min`), "mean_rewarded" with the mean
token log-prob of paid completions only (`statistic: mean, rewarded_only: true`: unpaid honest completions are
never flagged, so read "honest_rewarded_flagged"; every attack's completions are paid). Also:
CPU-seconds per scored (question, completion) pair. Writes `benchmarks/results/poison/calibration.json` (other
presets: `calibration-<presets>.json`), on the grid's pinned model builds (`builds`).

SmolLM2-135M runs the grid's smollm2 recipe (32 new tokens) on fewer, smaller rounds (`SIZES`): its honest
completions are sentences, so the shape check keeps almost none of them (`shape_probe`) and "after_shape" is
mostly empty; "alone" is then the question the node faces: can the log-prob check tell its peers' honest
sentences from the attacks' texts on a model where planting works?
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.common import output_path, write_json  # noqa: E402
from benchmarks.poison import builds  # noqa: E402
from benchmarks.poison.attacks import ATTACKS, poison_text, wrong_answer  # noqa: E402
from benchmarks.poison.swarm import TESTNET  # noqa: E402
from node.config import ModelConfig, RewardsConfig, TasksConfig  # noqa: E402
from node.defences.plausibility import STATISTICS as SCORERS  # noqa: E402
from node.defences.plausibility import PlausibilityDefence  # noqa: E402
from node.defences.shape import ShapeDefence  # noqa: E402
from node.rewards import build_reward_fn  # noqa: E402
from node.policy import Policy  # noqa: E402
from node.tasks import TaskSource  # noqa: E402
from node.types import ScoredGroup  # noqa: E402

MARGINS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
MEAN_MARGINS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
"""Margins of the mean statistic (nats per token: its own scores spread over about 2 nats, not 20)."""
PRESETS = ("tiny-0.5m", "tiny-1.5m")
SIZES = {"tiny-0.5m": (6, 8, 8, 16, 4, 16), "tiny-1.5m": (6, 8, 8, 16, 4, 16), "smollm2-135m": (32, 4, 8, 8, 2, 8)}
"""Per preset: max new tokens, own rounds, questions a round, completions a question, sender rounds, sender questions."""


REWARD = build_reward_fn(RewardsConfig())
SHAPE = ShapeDefence(None, max_tokens=10_000)


def scored(task: Any, texts: tuple[str, ...], who: str) -> ScoredGroup:
    return ScoredGroup(task, texts, tuple(REWARD(task, list(texts))), who)


def own_groups(policy: Policy, tasks: TaskSource, who: str, rounds: int, questions: int, seed: int,
               completions: int = 16) -> list[list[ScoredGroup]]:
    out = []
    for r in range(rounds):
        drawn = tasks.draw(who, r, questions)
        gens = policy.generate([t.question for t in drawn], completions, seed=seed + r)
        out.append([scored(t, tuple(g.text for g in gs), who) for t, gs in zip(drawn, gens)])
    return out


def shape_passing(groups: list[ScoredGroup]) -> list[ScoredGroup]:
    """The groups with only the completions the shape check accepts (groups left empty are dropped)."""
    out = []
    for g, marks in zip(groups, SHAPE.inspect(groups)):
        keep = [j for j, m in enumerate(marks) if m is None]
        if keep:
            out.append(ScoredGroup(g.task, tuple(g.texts[j] for j in keep), tuple(g.rewards[j] for j in keep), g.source))
    return out


def measure(receiver: Policy, honest: list[ScoredGroup], poisoned: dict[str, list[ScoredGroup]], own: list[list[ScoredGroup]],
            quantile: float, group_drop_share: float, statistic: str = "min", rewarded_only: bool = False,
            margins: tuple[float, ...] = MARGINS) -> dict[str, Any]:
    cost = {"pairs": 0, "cpu_s": 0.0}
    cache: dict[tuple[str, str], float] = {}  # the receiver does not learn here: a pair's score never changes

    def scorer(pairs: Any) -> list[float]:
        new = [p for p in dict.fromkeys(pairs) if p not in cache]
        if new:
            start = time.thread_time()
            cache.update(zip(new, SCORERS[statistic](receiver, new)))
            cost["pairs"], cost["cpu_s"] = cost["pairs"] + len(new), cost["cpu_s"] + time.thread_time() - start
        return [cache[p] for p in pairs]

    rows = {}
    for margin in margins:
        defence = PlausibilityDefence(scorer, quantile=quantile, margin_nats=margin, min_calibration=64 if not rewarded_only else 32,
                                      own_per_round=64, rewarded_only=rewarded_only)
        for groups in own:
            defence.observe_local(groups)
        if defence.threshold() is None or not honest:  # too few own completions (after the shape check: a verbose model's)
            rows[str(margin)] = {"threshold": None, "own_scored": len(defence.own), "honest_completions": len(honest)}
            continue
        flags = defence.inspect(honest)
        flat = [f for g in flags for f in g]
        paid = [f for g, marks in zip(honest, flags) for r, f in zip(g.rewards, marks) if r > 0.0]
        dropped = sum(sum(f is not None for f in g) / len(g) > group_drop_share for g in flags)
        caught = {}
        for attack, groups in poisoned.items():
            marks = [f for g in defence.inspect(groups) for f in g]
            caught[attack] = round(sum(f is not None for f in marks) / len(marks), 4)
        rows[str(margin)] = {"threshold": round(defence.threshold(), 3),
                             "honest_completions_flagged": round(sum(f is not None for f in flat) / len(flat), 5),
                             "honest_rewarded_flagged": round(sum(f is not None for f in paid) / len(paid), 5) if paid else None,
                             "honest_groups_dropped": round(dropped / len(flags), 5), "caught": caught}
    rows["cpu_s_per_pair"] = round(cost["cpu_s"] / max(1, cost["pairs"]), 6)
    return rows


SUMMARIES = {"min": min, "mean": lambda xs: sum(xs) / len(xs)}
"""A completion's score from its token log-probs, per `defences.plausibility.statistic`."""


def separability(receiver: Policy, honest: list[ScoredGroup], poisoned: dict[str, list[ScoredGroup]],
                 own: list[list[ScoredGroup]]) -> dict[str, Any]:
    """For each statistic, threshold-free: AUC = P(a poisoned completion scores below a rewarded honest one) per
    attack (0.5: no separation); and at the q-quantile of the receiver's own rewarded completions (q = 1%, 5%):
    the share of the sender's rewarded honest completions and of each attack's completions below it."""
    def paid(groups: list[ScoredGroup]) -> list[tuple[str, str]]:
        return list(dict.fromkeys((g.task.question, t) for g in groups for t, r in zip(g.texts, g.rewards) if r > 0.0))

    mine, theirs = paid([g for groups in own for g in groups]), paid(honest)
    attacks = {a: list(dict.fromkeys((g.task.question, t) for g in groups for t in g.texts)) for a, groups in poisoned.items()}
    pairs = list(dict.fromkeys([*mine, *theirs, *(p for ps in attacks.values() for p in ps)]))
    logprobs = dict(zip(pairs, receiver.completion_logprobs(pairs)))
    out: dict[str, Any] = {"own_rewarded": len(mine), "honest_rewarded": len(theirs)}
    for name, stat in SUMMARIES.items():
        score = {p: stat(lp) for p, lp in logprobs.items()}
        ref, hon = sorted(score[p] for p in mine), [score[p] for p in theirs]
        row: dict[str, Any] = {"auc": {a: _auc([score[p] for p in ps], hon) for a, ps in attacks.items()}}
        for q in (0.01, 0.05):
            floor = ref[min(len(ref) - 1, int(q * len(ref)))] if ref else None
            row[f"own_q{q}"] = None if floor is None else {
                "threshold": round(floor, 3), "honest_rewarded_flagged": _below(hon, floor),
                "caught": {a: _below([score[p] for p in ps], floor) for a, ps in attacks.items()}}
        out[name] = row
    return out


def _auc(low: list[float], high: list[float]) -> float | None:
    """P(x < y) + P(x = y) / 2 for x from `low`, y from `high`."""
    if not low or not high:
        return None
    wins = sum((x < y) + 0.5 * (x == y) for x in low for y in high)
    return round(wins / (len(low) * len(high)), 4)


def _below(xs: list[float], floor: float) -> float | None:
    return round(sum(x < floor for x in xs) / len(xs), 4) if xs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quantile", type=float, default=0.005)
    parser.add_argument("--group-drop-share", type=float, default=0.5)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=sorted(SIZES),
                        help="receivers and senders, every ordered pair (default: the two tiny models)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    presets = tuple(dict.fromkeys(args.presets))
    name = "calibration.json" if presets == PRESETS else f"calibration-{'+'.join(presets)}.json"
    out = args.out or output_path("poison", name, full=True)
    builds.ensure_kernels("benchmarks.poison.calibration")  # the grid's pinned builds (may restart this command)
    builds.use_own_cache()
    if wrong := builds.check_pinned(built := builds.build_all(presets)):
        sys.exit("benchmarks.poison.calibration: not the grid's pinned model builds:\n  " + "\n  ".join(wrong))
    torch.set_num_threads(1)
    tasks, rng = TaskSource(TasksConfig()), random.Random(0)
    policies = {name: Policy.load(ModelConfig(name=name, device="cpu", max_new_tokens=SIZES[name][0], warm_start_steps=200),
                                  families=TESTNET.warm_families) for name in presets}
    own, sent = {}, {}
    for name, p in policies.items():
        _, rounds, questions, completions, sender_rounds, sender_questions = SIZES[name]
        own[name] = own_groups(p, tasks, f"receiver-{name}", rounds, questions, 100, completions)
        sent[name] = own_groups(p, tasks, f"sender-{name}", sender_rounds, sender_questions, 900, completions)
        print(f"{name}: generated", flush=True)
    report: dict[str, Any] = {"builds": built, "sizes": {n: SIZES[n] for n in presets}, "quantile": args.quantile,
                              "group_drop_share": args.group_drop_share, "margins": MARGINS, "pairs": {}}
    for sender, rounds in sent.items():
        honest = [g for groups in rounds for g in groups]
        limit = SIZES[sender][0]
        poisoned = {a: [scored(g.task, (poison_text(a, g.task.answer, wrong_answer(g.task.answer, rng), limit),), "p")
                        for g in honest] for a in ATTACKS}
        for receiver, policy in policies.items():
            pair = f"{receiver} <- {sender}"
            report["pairs"][pair] = {
                "alone": measure(policy, honest, poisoned, own[receiver], args.quantile, args.group_drop_share),
                "after_shape": measure(policy, shape_passing(honest), {}, [shape_passing(g) for g in own[receiver]],
                                       args.quantile, args.group_drop_share),
                "mean_rewarded": measure(policy, honest, poisoned, own[receiver], args.quantile, args.group_drop_share,
                                         "mean", True, MEAN_MARGINS),
                "separability": separability(policy, honest, poisoned, own[receiver])}
            print(pair, json.dumps(report["pairs"][pair]), flush=True)
    write_json(out, report)
    print(f"# wrote {out}")


if __name__ == "__main__":
    main()
