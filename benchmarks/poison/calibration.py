"""Calibrate the plausibility defence on honest traffic, across model sizes: measured false rejections and catches.

    .venv/bin/python -m benchmarks.poison.calibration            # tiny-0.5m and tiny-1.5m, both ways (a few CPU-min)

For every (receiver, sender) pair of presets: the receiver calibrates on its own completions (as a node does:
`PlausibilityDefence.observe_local`, 8 rounds of 8 questions x 16 completions), then scores a sender's honest
completions on other questions (false rejections, per completion and per group dropped whole at the node's
`group_drop_share`) and the five attacks' completions on the same questions (catches). Two settings: "alone"
(a task family with no answer shape: every completion reaches the check) and "after_shape" (chain_sum: the shape
check runs first, on the node's own completions too, so both calibration and input hold only shape-passing text).
Done for several margins, so the chosen default is read off a measured curve rather than assumed. Also:
CPU-seconds per scored (question, completion) pair. Writes `benchmarks/results/poison/calibration.json`, on the
grid's pinned model builds (`builds`).
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
from node.defences.plausibility import PlausibilityDefence, lowest_token_logprob  # noqa: E402
from node.defences.shape import ShapeDefence  # noqa: E402
from node.rewards import build_reward_fn  # noqa: E402
from node.policy import Policy  # noqa: E402
from node.tasks import TaskSource  # noqa: E402
from node.types import ScoredGroup  # noqa: E402

MARGINS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0)
PRESETS = ("tiny-0.5m", "tiny-1.5m")


REWARD = build_reward_fn(RewardsConfig())
SHAPE = ShapeDefence(None, max_tokens=10_000)


def scored(task: Any, texts: tuple[str, ...], who: str) -> ScoredGroup:
    return ScoredGroup(task, texts, tuple(REWARD(task, list(texts))), who)


def own_groups(policy: Policy, tasks: TaskSource, who: str, rounds: int, questions: int, seed: int) -> list[list[ScoredGroup]]:
    out = []
    for r in range(rounds):
        drawn = tasks.draw(who, r, questions)
        gens = policy.generate([t.question for t in drawn], 16, seed=seed + r)
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
            quantile: float, group_drop_share: float) -> dict[str, Any]:
    cost = {"pairs": 0, "cpu_s": 0.0}
    cache: dict[tuple[str, str], float] = {}  # the receiver does not learn here: a pair's score never changes

    def scorer(pairs: Any) -> list[float]:
        new = [p for p in dict.fromkeys(pairs) if p not in cache]
        if new:
            start = time.thread_time()
            cache.update(zip(new, lowest_token_logprob(receiver, new)))
            cost["pairs"], cost["cpu_s"] = cost["pairs"] + len(new), cost["cpu_s"] + time.thread_time() - start
        return [cache[p] for p in pairs]

    rows = {}
    for margin in MARGINS:
        defence = PlausibilityDefence(scorer, quantile=quantile, margin_nats=margin, min_calibration=64, own_per_round=64)
        for groups in own:
            defence.observe_local(groups)
        flags = defence.inspect(honest)
        flat = [f for g in flags for f in g]
        dropped = sum(sum(f is not None for f in g) / len(g) > group_drop_share for g in flags)
        caught = {}
        for attack, groups in poisoned.items():
            marks = [f for g in defence.inspect(groups) for f in g]
            caught[attack] = round(sum(f is not None for f in marks) / len(marks), 4)
        rows[str(margin)] = {"threshold": round(defence.threshold(), 3),
                             "honest_completions_flagged": round(sum(f is not None for f in flat) / len(flat), 5),
                             "honest_groups_dropped": round(dropped / len(flags), 5), "caught": caught}
    rows["cpu_s_per_pair"] = round(cost["cpu_s"] / max(1, cost["pairs"]), 6)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quantile", type=float, default=0.005)
    parser.add_argument("--group-drop-share", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=output_path("poison", "calibration.json", full=True))
    args = parser.parse_args()
    builds.ensure_kernels("benchmarks.poison.calibration")  # the grid's pinned builds (may restart this command)
    builds.use_own_cache()
    if wrong := builds.check_pinned(built := builds.build_all(PRESETS)):
        sys.exit("benchmarks.poison.calibration: not the grid's pinned model builds:\n  " + "\n  ".join(wrong))
    torch.set_num_threads(1)
    tasks, rng = TaskSource(TasksConfig()), random.Random(0)
    policies = {name: Policy.load(ModelConfig(name=name, device="cpu", max_new_tokens=6, warm_start_steps=200),
                                  families=TESTNET.warm_families) for name in PRESETS}
    own = {name: own_groups(p, tasks, f"receiver-{name}", 8, 8, 100) for name, p in policies.items()}
    sent = {name: own_groups(p, tasks, f"sender-{name}", 4, 16, 900)[0:4] for name, p in policies.items()}
    report: dict[str, Any] = {"builds": built, "quantile": args.quantile, "group_drop_share": args.group_drop_share, "margins": MARGINS, "pairs": {}}
    for sender, rounds in sent.items():
        honest = [g for groups in rounds for g in groups]
        poisoned = {a: [scored(g.task, (poison_text(a, g.task.answer, wrong_answer(g.task.answer, rng)),), "p")
                        for g in honest] for a in ATTACKS}
        for receiver, policy in policies.items():
            pair = f"{receiver} <- {sender}"
            report["pairs"][pair] = {
                "alone": measure(policy, honest, poisoned, own[receiver], args.quantile, args.group_drop_share),
                "after_shape": measure(policy, shape_passing(honest), {}, [shape_passing(g) for g in own[receiver]],
                                       args.quantile, args.group_drop_share)}
            print(pair, json.dumps(report["pairs"][pair]), flush=True)
    write_json(args.out, report)


if __name__ == "__main__":
    main()
