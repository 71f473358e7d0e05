"""Chaos rows that need no swarm: T8 the fuzz targets (`benchmarks.fuzz`), T9 SIGKILLs while a node's
checkpoint and metrics are written (`tests/chaos/checkpoint_kills.py`).

    t8_fuzz(60), t9_kills(100)
"""

from __future__ import annotations

from pathlib import Path


def t8_fuzz(seconds: int) -> dict:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return {"skipped": "atheris is not installed (pip install atheris)"}
    from benchmarks.fuzz import TARGETS, run_target

    return {t: {k: v for k, v in run_target(t, seconds).items() if k not in ("tail",)} for t in TARGETS}


def t9_kills(kills: int, seed: int = 0) -> dict:
    """T9: SIGKILL a node's bookkeeping (metrics log + checkpoint writes) `kills` times; see tests/chaos/checkpoint_kills.py."""
    import tempfile

    from tests.chaos.checkpoint_kills import kill_while_writing

    with tempfile.TemporaryDirectory(prefix="sapo-t9-") as d:
        report = kill_while_writing(Path(d), kills, seed=seed).as_dict()
    report["failures"] = report["failures"][:10]
    print(f"  T9: {report['restarts_ok']}/{kills} restarts ok, {report['saves_completed']} checkpoints completed, "
          f"torn or corrupt loaded {report['torn_or_corrupt_loaded']}, metrics mismatches {report['metrics_mismatch']} "
          f"(seed {seed}, {report['seconds']} s)", flush=True)
    return report
