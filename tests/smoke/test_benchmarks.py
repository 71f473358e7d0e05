"""Every benchmark runs: each one's ``--smoke`` (under a minute) in a subprocess, checked for a JSON result of
the expected shape. A benchmark that stops running fails here, not in a user's hands.

Also, without subprocesses: every benchmark has a smoke run listed here, no benchmark module is over 400
lines, short runs never write into ``benchmarks/results/``, and the gossip ratios refuse a zero baseline.
The smoke runs of sapo, gpu_round, scale and soak are their own tests (`SMOKE_ELSEWHERE`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from benchmarks.common import RESULTS, SCRATCH, output_path

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


def _get(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _gossip(data: dict[str, Any]) -> None:
    rows = {(r["pattern"], r["mode"]): r for r in data["results"]}
    assert set(rows) == {(p, m) for p in ("sharded", "reference") for m in ("all at once", "one collector at a time")}
    reference = rows[("reference", "all at once")]
    assert reference["kib_read_per_node_round"] > 0 and reference["rounds_get_none"] == 0  # the reference reads real bytes
    assert rows[("reference", "one collector at a time")]["kib_read_per_collect"] > 0
    assert {r.get("solo") or r.get("all") for r in data["ratios"]} == {"sharded over reference"}


def _collapse_study(data: dict[str, Any]) -> None:
    (run,) = data["runs"]  # the smoke arm: one silo node, seed 0
    assert run["arm"] == "onpolicy-silo" and run["rounds"] == 12 and 0 <= run["peak_ma"] <= 1
    assert len(run["eighths"]) == 8 and len(run["entropy_eighths"]) == 8


def _chaos(data: dict[str, Any]) -> None:
    t0 = data["phases"]["T0 baseline"]
    assert t0["delivery_ratio"] is not None and t0["published"] > 0
    assert data["phases"]["T7p outsiders"]["accepted_by_honest"] == 0
    assert data["crashes_total"] == 0 and data["left_over"] == [] and "interrupted" not in data


SMOKES: dict[str, tuple[list[str], list[str], Callable[[dict[str, Any]], None] | None]] = {
    "codec": ([], ["seconds.sapo encode+sign", "ratios.verify+decode / json loads", "bytes.sapo"], None),
    "generation": ([], ["results.0.batched.tokens_per_s", "results.0.loop.tokens_per_s", "results.0.speedup_rollouts"], None),
    "learning": ([], ["rewards", "first_block", "last_block", "cpu_s"], lambda d: len(d["rewards"]) == 2 or pytest.fail("rounds")),
    "fuzz": ([], ["rows.0.executions", "rows.0.exec_per_s"], lambda d: all(r["crashes"] == 0 for r in d["rows"]) or pytest.fail("crash")),
    "gossip": ([], ["meta.invocations", "results", "ratios"], _gossip),
    "chaos": ([], ["phases", "network", "wall_s"], _chaos),
    "chaos_learning": ([], ["runs.baseline.reward_curve", "runs.baseline.nodes_detail", "network"],
                       lambda d: d["runs"]["baseline"]["crashes"] == [] or pytest.fail("crash")),
    "collapse_study": ([], ["runs.0.eighths", "runs.0.end_over_peak", "arms.base3"], _collapse_study),
}
"""benchmark -> (extra arguments after --smoke, dotted fields its JSON must hold, a check of its figures)."""
SMOKE_ELSEWHERE = {"sapo": "tests/smoke/test_sapo_table_quick.py", "gpu_round": "tests/smoke/test_gpu_round_quick.py",
                   "scale": "tests/smoke/test_scale_quick.py", "poison": "tests/smoke/test_poison_quick.py",
                   "soak": "tests/smoke/test_soak_quick.py"}


def benchmark_names() -> set[str]:
    """Packages with a ``__main__`` and modules with a ``main()`` directly under benchmarks/."""
    packages = {p.parent.name for p in BENCHMARKS.glob("*/__main__.py")}
    modules = {p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "__init__" and "\ndef main(" in p.read_text()}
    return packages | modules


def test_every_benchmark_has_a_smoke_run() -> None:
    assert benchmark_names() == set(SMOKES) | set(SMOKE_ELSEWHERE)


def test_no_benchmark_module_is_over_400_lines() -> None:
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in BENCHMARKS.rglob("*.py")}
    assert sizes and not {p: n for p, n in sizes.items() if n > 400}


def test_short_runs_never_write_into_the_committed_results() -> None:
    from benchmarks.chaos.cli import parse_args as chaos_args
    from benchmarks.gossip.cli import parse_args as gossip_args

    assert output_path("codec", "smoke.json", full=False).is_relative_to(SCRATCH)
    for parse in (chaos_args, gossip_args):
        for flags in (["--smoke"], ["--quick"]):
            assert parse(flags).out.is_relative_to(SCRATCH), (parse, flags)
        assert parse([]).out.is_relative_to(RESULTS)
    assert chaos_args(["--phases", "T2"]).out.is_relative_to(SCRATCH)
    assert gossip_args(["--quick", "--out", "/tmp/x.json"]).out == Path("/tmp/x.json")


def test_gossip_ratios_refuse_a_zero_baseline() -> None:
    from benchmarks.gossip.report import ZeroBaseline, ratios

    row = {"n": 4, "batch": "5KB", "mode": "all at once", "cpu_s_per_node_round": 0.01, "collect_p50_ms": 10.0,
           "kib_read_per_node_round": 20.0}
    sharded, reference = {**row, "pattern": "sharded"}, {**row, "pattern": "reference"}
    assert ratios([sharded, reference])[0]["kib_read_per_node_round"] == 1.0
    with pytest.raises(ZeroBaseline, match="kib_read_per_node_round"):
        ratios([sharded, {**reference, "kib_read_per_node_round": 0.0}])


@pytest.fixture(scope="module")
def built_models() -> None:
    """The tiny preset the model benchmarks load, built (or found) in the default cache before any timing."""
    from node.config import ModelConfig
    from node.models import ensure_model

    ensure_model(ModelConfig(name="tiny-0.5m"))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(SMOKES))
def test_benchmark_smoke_run(name: str, tmp_path: Path, built_models: None) -> None:
    if name == "fuzz" and importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (the optional extra: pip install -e '.[fuzz]')")
    extra, fields, check = SMOKES[name]
    out = tmp_path / f"{name}.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", CHAOS_LOG_DIR=str(tmp_path))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--smoke", *extra, "--out", str(out)],
                          capture_output=True, text=True, timeout=280, env=env, cwd=REPO)
    took = time.monotonic() - started
    assert proc.returncode == 0, f"{name} --smoke exited {proc.returncode} after {took:.0f} s:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    data = json.loads(out.read_text())
    assert data["provenance"]["commit"] and data["provenance"]["command"].startswith(f"python -m benchmarks.{name} --smoke")
    for field in fields:
        assert _get(data, field) is not None, field
    if check is not None:
        check(data)
    print(f"{name} --smoke: {took:.1f} s")
