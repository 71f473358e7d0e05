"""The chaos benchmark's printed tables: one line per delivery row, the hostile classes, T8 and T9.

    show(results)                    # results: what `benchmarks.chaos.cli.main` writes as JSON
"""

from __future__ import annotations

from benchmarks.chaos.hostile import reason_table


def show(results: dict) -> None:
    print(f"\nchaos benchmark ({results['mode']}): {results['honest_nodes']} honest transport processes, push to peers: {results.get('push_to_peers')}, network: {results['network']}")
    print(f"{'row':<28}{'deliv':>8}{'acked':>7}{'p50 s':>7}{'p99 s':>7}{'max s':>7}{'crash':>6}{'RSS MiB':>9}  notes")
    for name, row in results["phases"].items():
        if "skipped" in row:
            print(f"{name:<28}SKIPPED: {row['skipped']}")
            continue
        subs = [(name, row)] if "delivery_ratio" in row else [(f"{name}/{k}", v) for k, v in row.items() if isinstance(v, dict) and "delivery_ratio" in v]
        for n, (sub, d) in enumerate(subs):
            note = {k: v for k, v in row.items() if not isinstance(v, dict) and k not in ("missed",) and k not in d} if n == 0 else {}
            print(f"{sub:<28}{d['delivery_ratio'] if d['delivery_ratio'] is not None else '-':>8}{d['acked']:>7}{d['latency_p50_s']:>7}"
                  f"{d['latency_p99_s']:>7}{d['latency_max_s'] or '-':>7}{results['crashes_total']:>6}{d['rss_peak_mb'] or '-':>9}  {note or ''}")
    if "T5" in results["phases"] and "classes" in results["phases"]["T5"]:
        print(f"\n{'T5/T6 hostile class':<24}{'reason':<16}{'injected':>9}{'rejected/node':>14}{'accepted':>9}  other")
        for kind, r in results["phases"]["T5"]["classes"].items():
            rej = f"{r['rejected_min']}-{r['rejected_max']}"
            print(f"{kind:<24}{r['reason'][:15]:<16}{r['injected']:>9}{rej:>14}{r['accepted_max']:>9}  {r['other_reasons'] or ''}{r['error'] or ''}")
        for kind, r in results["phases"]["T5"].get("forged_claims", {}).items():
            print(f"{kind:<24}{'intake':<16}{1:>9}{'':>14}{0 if r['verdict'] == 'PASS' else '?':>9}  received by {r['receivers']}, "
                  f"counted {r['counts_seen']}, claimed reward {r['claimed_reward']} re-scored {r['rescored_reward_max']}: {r['verdict']}")
    for name, row in results["phases"].items():
        if name.startswith("T5 at rate") and "reasons" in row:
            print(f"\n{name}: {row['attack']}; hostile accepted {row['hostile_accepted']}; {row['verdicts']}")
            print("\n".join(reason_table(row["reasons"])))
    if isinstance(results["phases"].get("T8"), dict) and "skipped" not in results["phases"]["T8"]:
        print(f"\n{'T8 fuzz target':<16}{'execs':>10}{'exec/s':>9}{'crashes':>9}{'>1 s':>6}")
        for t, r in results["phases"]["T8"].items():
            print(f"{t:<16}{r['executions']:>10}{r['exec_per_s']:>9}{r['crashes']:>9}{r['over_1s']:>6}  "
                  + "; ".join(f"{s['s']} s {s['what'][:70]}" for s in r["slow_inputs"][:2]))
    if isinstance(t9 := results["phases"].get("T9"), dict):
        print(f"\nT9 SIGKILLs while writing: {t9['kills']} kills, {t9['restarts_ok']} restarts ok, {t9['saves_completed']} checkpoints "
              f"completed; torn/corrupt loaded {t9['torn_or_corrupt_loaded']}, went back {t9['went_back']}, partial files left "
              f"{t9['partial_files_left']}, metrics mismatches {t9['metrics_mismatch']} (seed {t9['seed']}, {t9['seconds']} s)")
    print(f"\nmemory per node (MiB, node + p2pd): start {results['rss_start_mb']}, peak {results['rss_peak_mb']}; "
          f"crashes of honest nodes: {results['crashes_total']} {results['crashes'] or ''}; namespaces left: {results['left_over'] or 'none'}")
