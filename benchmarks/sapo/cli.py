"""The SAPO table's command line: which blocks run, where their log and outputs go, and the DHT check.

    python -m benchmarks.sapo --quick                   # the controls grid in miniature (about a minute on 2 workers; CI)
    python -m benchmarks.sapo --controls                # the pre-registered table (benchmarks.sapo.controls)
    python -m benchmarks.sapo --controls-phases         # where each arm's CPU goes (benchmarks.sapo.phases)
    python -m benchmarks.sapo --controls-regimes        # does learning pay for its CPU (benchmarks.sapo.regimes)
    python -m benchmarks.sapo --fill --seeds 10 --report-only

Full experiments (the table, --pilot, --fill, --dht) read and write ``benchmarks/results/sapo/``;
--quick and --tiny write to ``runs/benchmarks/sapo/`` unless ``--out-dir`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.common import SCRATCH, RunLog, output_path, provenance, shown, write_json
from benchmarks.sapo import controls, cuts
from benchmarks.sapo.controls_output import write_controls
from benchmarks.sapo.controls_report import controls_report, pilot_figures
from benchmarks.sapo.grid import ISOLATION, UNIFORM_88, Block, fill_blocks, full_blocks, pilot_blocks, tiny_blocks
from benchmarks.sapo.phases import phases_blocks, phases_report
from benchmarks.sapo.regimes import regimes_blocks, regimes_report
from benchmarks.sapo.report import build_report, dht_comparison, write_outputs
from benchmarks.sapo.runs import jobs_of, prebuild_models, run_jobs, spec_key
from node.models.cache import CACHE_ENV


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import benchmarks.sapo

    parser = argparse.ArgumentParser(prog="python -m benchmarks.sapo", description=benchmarks.sapo.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="the controls grid in miniature: sparse, 4 nodes, 20 rounds, builds 0-1, seed 0")
    parser.add_argument("--controls", action="store_true",
                        help="the pre-registered table of issue 26 (benchmarks.sapo.controls): 3 builds x 10 seeds")
    parser.add_argument("--controls-pilot", action="store_true",
                        help="the CPU calibration pilot of control (b) (own log; never counts)")
    parser.add_argument("--controls-phases", action="store_true",
                        help="where the CPU of 8/0, 16/0, S and the replay control goes, phase by phase (own log; "
                             "diagnostic, never counts)")
    parser.add_argument("--controls-regimes", action="store_true",
                        help="S 4/4, 4/0 and a frozen node in the dense and sparse regimes and on tiny-1.5m, pilot "
                             "seeds (own log; diagnostic, never counts)")
    parser.add_argument("--controls-cuts", action="store_true",
                        help="S, 8/0 and the replay control again after the CPU cuts (benchmarks.sapo.cuts): "
                             "3 builds x 5 seeds, own log")
    parser.add_argument("--controls-cuts2", action="store_true",
                        help="block 2 of benchmarks.sapo.cuts: the same arms after more CPU cuts, question seeds 5-9, "
                             "own log")
    parser.add_argument("--controls-cuts3", action="store_true",
                        help="block 3 of benchmarks.sapo.cuts: S against 8/0, CPU-matched isolation and the replay "
                             "control after the generation cut, question seeds 0-4, own log")
    parser.add_argument("--controls-cuts4", action="store_true",
                        help="block 4 of benchmarks.sapo.cuts: S with claimed-signal intake against 8/0, CPU-matched "
                             "isolation and the replay control after the update and intake cuts, seeds 0-4, own log")
    parser.add_argument("--controls-cuts5", action="store_true",
                        help="block 5 of benchmarks.sapo.cuts: S 4/4 against 4/0, 8/0, CPU-matched isolation and the "
                             "replay control, with a frozen reference, seeds 10-14, own log")
    parser.add_argument("--pilot", action="store_true", help="the 2-seed pilots of grid.pilot_blocks")
    parser.add_argument("--fill", action="store_true",
                        help="under today's packages (own run log): sparser-8 over 150 rounds, isolation, the fill "
                             "and its variants, the rows generating 8 groups a round; the sparse-4 core over 60 "
                             "rounds; the fill to 24 at two and three optimizer steps per round; isolation against "
                             "the 2-step fill over 300 rounds")
    parser.add_argument("--tiny", action="store_true", help="2 nodes, 3 rounds, 1 seed (the smoke test)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per run (default 60; quick 50)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds of the main block (default 10)")
    parser.add_argument("--blocks", nargs="*", default=None, help="only these block names")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where the run log and outputs go (default benchmarks/results/sapo; quick and tiny: runs/benchmarks/sapo)")
    parser.add_argument("--report-only", action="store_true", help="no new runs: report what the run log holds")
    parser.add_argument("--fresh", action="store_true", help="ignore the run log of earlier invocations")
    parser.add_argument("--dht", action="store_true", help="8/8 over the real DHT on loopback vs the simulation")
    return parser.parse_args(argv)


def choose(args: argparse.Namespace) -> tuple[list[Block], str, str]:
    """(blocks, output stem, run-log stem) of the experiment the flags name."""
    if args.controls:
        blocks = controls.controls_blocks(tuple(range(args.seeds or 10)), require_calibration=not args.report_only)
        return blocks, "controls", "controls"
    if args.controls_pilot:
        return controls.pilot_blocks(), "controls-pilot", "controls-pilot"
    if args.controls_phases:
        return phases_blocks(), "controls-phases", "controls-phases"
    if args.controls_regimes:
        return regimes_blocks(), "controls-regimes", "controls-regimes"
    if args.controls_cuts:
        return cuts.cuts_blocks(tuple(range(args.seeds or len(cuts.SEEDS)))), "controls-cuts", "controls-cuts"
    if args.controls_cuts2:
        return cuts.cuts_2_blocks(cuts.SEEDS_2[:args.seeds]), "controls-cuts2", "controls-cuts2"
    if args.controls_cuts3:
        return cuts.cuts_3_blocks(cuts.SEEDS_3[:args.seeds]), "controls-cuts3", "controls-cuts3"
    if args.controls_cuts4:
        return cuts.cuts_4_blocks(cuts.SEEDS_4[:args.seeds]), "controls-cuts4", "controls-cuts4"
    if args.controls_cuts5:
        return cuts.cuts_5_blocks(cuts.SEEDS_5[:args.seeds]), "controls-cuts5", "controls-cuts5"
    if args.pilot:
        return pilot_blocks(args.rounds or 60), "pilot", "table"  # the pilots share the main table's log
    if args.fill:
        return fill_blocks(args.seeds or 10), "fill", "fill"
    if args.tiny:
        return tiny_blocks(), "tiny", "tiny"
    if args.quick:
        return controls.quick_blocks(), "quick", "quick"
    return full_blocks(args.rounds or 60, args.seeds or 10), "table", "table"


def earlier_provenance(path: Path, meta: dict, invocation: dict) -> tuple[dict, dict]:
    """(provenance, invocation) of the report at `path` when it holds both (the invocation that ran the runs),
    else the ones given (this invocation's)."""
    try:
        earlier = json.loads(path.read_text())
        return earlier["provenance"], earlier["invocation"]
    except (OSError, ValueError, KeyError, TypeError):
        return meta, invocation


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    short = args.quick or args.tiny
    folder = output_path("sapo", "", full=not short, out=args.out_dir)
    if args.dht:
        return dht_main(args, folder)
    blocks, stem, runs_stem = choose(args)
    cuts_grid = (args.controls_cuts or args.controls_cuts2 or args.controls_cuts3 or args.controls_cuts4
                 or args.controls_cuts5)
    diagnostics = args.controls_pilot or args.controls_phases or args.controls_regimes
    if args.controls or diagnostics or cuts_grid:  # builds made here
        os.environ.setdefault(CACHE_ENV, str(SCRATCH / "sapo" / "models"))
    if args.blocks:
        blocks = [b for b in blocks if b.name in args.blocks]
    folder.mkdir(parents=True, exist_ok=True)
    log = RunLog(folder / runs_stem)
    meta, start_wall, start_cpu = provenance(), time.time(), _cpu_all()
    if args.report_only:
        runs = log.load()
    else:
        prebuild_models(blocks)
        runs = run_jobs(jobs_of(blocks), log, args.workers, resume=not (args.fresh or short))
    invocation = {"argv": sys.argv[1:], "wall_s": round(time.time() - start_wall, 1),
                  "cpu_s_all_processes": round(_cpu_all() - start_cpu, 1)}
    if args.report_only:  # the figures are the runs': keep the provenance of the invocation that ran them
        meta, invocation = earlier_provenance(folder / f"{stem}.json", meta, invocation)
    if args.controls:
        report = {"provenance": meta, **controls_report(blocks, runs), "invocation": invocation}
        return print(write_controls(report, folder, stem))
    if args.quick:  # the controls grid in miniature, through the table's own report (no control (b) in it)
        report = {"provenance": meta, **controls_report(blocks, runs), "invocation": invocation,
                  "cpu_matched_i": None, "calibration": None}
        return print(write_controls(report, folder, stem))
    if cuts_grid:
        if args.controls_cuts5:  # fresh units: no earlier block to pair with; the frozen reference instead
            figures = cuts.over_frozen(blocks[0], runs)
            extra = cuts.format_over_frozen(figures)
            matched = {"cpu_matched_i": cuts.CPU_MATCHED_I_5, "calibration": cuts.CALIBRATION_5}
        elif args.controls_cuts4:  # against block 3, on the same units (another host: its CPU ratio mixes hosts)
            figures = cuts.before_and_after(blocks[0], runs, RunLog(folder / "controls-cuts3").load(), cuts.cuts_3_blocks()[0])
            extra = cuts.format_before_and_after(figures, "block 3 (`controls-cuts3.runs.jsonl.gz`, another host, so "
                                                          "the CPU column mixes the cuts with the hosts' speeds)")
            matched = {"cpu_matched_i": cuts.CPU_MATCHED_I_4, "calibration": cuts.CALIBRATION_4}
        elif args.controls_cuts3:  # against block 1, on the same units: what the generation cut changed
            figures = cuts.before_and_after(blocks[0], runs, RunLog(folder / "controls-cuts").load(), cuts.cuts_blocks()[0])
            extra = cuts.format_before_and_after(figures, "block 1 (`controls-cuts.runs.jsonl.gz`)")
            matched = {"cpu_matched_i": cuts.CPU_MATCHED_I_3, "calibration": cuts.CALIBRATION_3}
        else:
            figures = cuts.before_and_after(blocks[0], runs, RunLog(folder / "controls").load())
            extra = cuts.format_before_and_after(figures)
            matched = {"cpu_matched_i": None, "calibration": None}  # no control (b) here
        figures_key = "over_frozen" if args.controls_cuts5 else "before_and_after"
        report = {"provenance": meta, **controls_report(blocks, runs), figures_key: figures,
                  "invocation": invocation, **matched}
        return print(write_controls(report, folder, stem, extra=extra))
    if args.controls_phases:
        report = {"provenance": meta, **phases_report(blocks[0], runs), "invocation": invocation}
        return print(f"{report['table']}\nwrote {shown(write_json(folder / f'{stem}.json', report, meta=meta))}")
    if args.controls_regimes:
        report = {"provenance": meta, **regimes_report(blocks, runs), "invocation": invocation}
        return print(f"{report['table']}\nwrote {shown(write_json(folder / f'{stem}.json', report, meta=meta))}")
    report = {"provenance": meta, **build_report(blocks, runs), "invocation": invocation}
    if args.controls_pilot:
        report["calibration"] = calibration(blocks[0], runs)
    print(write_outputs(report, blocks, runs, folder / f"{stem}.json", folder / f"{stem}.png"))
    if args.controls_pilot:
        print(f"calibration of control (b): {report['calibration']}")


def calibration(block: Block, runs: dict) -> dict:
    """The pilot's CPU-seconds per node-round per arm and, once 8/0, 16/0 and S ran, the pre-registered I_b."""
    cost = pilot_figures(block, runs)
    out: dict = {"cpu_s_per_node_round": cost}
    needed = (controls.ISOLATION_8.label, ISOLATION.label, controls.SHARING.label)
    if all(label in cost for label in needed):
        out["cpu_matched_i"] = controls.calibrate(*(cost[label] for label in needed))
    return out


def dht_main(args: argparse.Namespace, folder: Path) -> None:
    """8/8 uniform over hivemind (one process per node) against the simulated 8/8 and 16/0, same seeds."""
    from benchmarks.sapo.dht import run_dht

    block = replace(full_blocks(args.rounds or 60)[0], seeds=tuple(range(args.seeds or 2)), configs=(ISOLATION, UNIFORM_88))
    prebuild_models([block])
    folder.mkdir(parents=True, exist_ok=True)
    sim = run_jobs(jobs_of([block]), RunLog(folder / "table"), args.workers, resume=True)
    log = RunLog(folder / "dht")
    dht = log.load()
    try:
        for seed in block.seeds:
            spec = block.specs(seed)[1]
            if spec_key(spec) not in dht:
                row = {"key": spec_key(spec), "seed": seed, **run_dht(spec)}
                log.append(row)
                dht[row["key"]] = row
                print(f"  DHT 8/8 seed {seed}: cum {sum(map(sum, row['common'])):.1f} CPU {row['cpu_s']:.1f} s wall {row['wall_s']:.0f} s")
    finally:
        if log.plain.exists():
            log.compress()
    report = dht_comparison(block, sim, dht)
    print(report["table"])
    print(f"wrote {shown(write_json(folder / 'dht.json', report))}")


def _cpu_all() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


__all__ = ["calibration", "choose", "main", "parse_args"]
