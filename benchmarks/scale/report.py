"""Tables (markdown, on stdout) and the plot of the scale benchmark, from its JSON.

    print_tables(data)                      # measured, split by category, bounded counters, model check, model grid, targets
    write_plot(data, Path("scale.png"))     # per-node bytes and CPU per round against N, log scales
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPLIT = ("records", "parts", "announcements", "pushes", "other", "reference")


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(header), "|" + "---|" * len(header), *(_row(r) for r in rows)]


def measured_table(measured: list[dict[str, Any]]) -> list[str]:
    rows = [[r["n"], r["pattern"], f"{r['read'] / 1024:.0f}", f"{r['written'] / 1024:.0f}", f"{r['p2pd_socket_bytes'] / 1024:.0f}",
             f"{1000 * r['cpu_s']:.0f}", f"{1000 * r['cpu_python_s']:.0f} + {1000 * r['cpu_p2pd_s']:.0f}", f"{r['rpcs_sent']:.0f}",
             f"{r['rpcs_served']:.0f}", f"{r['collect_p50_ms']:.0f}", f"{r['hottest_key_finds']}", f"{r['collects_short_of_J']}/{r['collects']}"]
            for r in measured]
    return _table(["N", "pattern", "KiB read", "KiB written", "KiB via p2pd", "CPU ms", "python + p2pd ms", "RPCs sent",
                   "RPCs served", "collect p50 ms", "hottest key finds", "collects short of J"], rows)


def split_table(measured: list[dict[str, Any]]) -> list[str]:
    """Own RPCs (sent, with their answers) by category: KiB and DHT requests per node per round."""
    rows = []
    for r in measured:
        cells = []
        for c in SPLIT:
            row = r["by_category"].get(c)
            cells.append(f"{row['bytes'] / 1024:.1f} KiB / {row['rpcs']:.1f}" if row and row.get("rpcs") else "-")
        rows.append([r["n"], r["pattern"], *cells])
    return _table(["N", "pattern", *SPLIT], rows)


def bounds_table(measured: list[dict[str, Any]]) -> list[str]:
    names = ("peers", "peer_table", "routing_table", "pushed", "push_retries", "probes", "reconnect_pings")
    rows = [[r["n"], *(f"{r[k]:.1f} (max {r[f'{k}_max']})" if k in r else "-" for k in names)]
            for r in measured if r["pattern"] == "ours"]
    return _table(["N", "peers()", "peer table", "routing table", "pushes sent", "push retries", "probes", "reconnect pings"], rows)


def check_table(model: dict[str, Any]) -> list[str]:
    rows = []
    for c in model.get("check", []):
        cells = [f"{c[q][0] / 1024:.0f} / {c[q][1] / 1024:.0f} ({100 * c[q][2]:+.0f}%)" if q == "bytes"
                 else f"{1000 * c[q][0]:.0f} / {1000 * c[q][1]:.0f} ({100 * c[q][2]:+.0f}%)" if q == "cpu_s"
                 else f"{c[q][0]:.0f} / {c[q][1]:.0f} ({100 * c[q][2]:+.0f}%)" for q in ("bytes", "cpu_s", "rpcs", "hot_key_finds")]
        rows.append([c["n"], c["pattern"], *cells])
    return _table(["N", "pattern", "KiB model / measured", "CPU ms model / measured", "RPCs model / measured",
                   "hottest key finds model / measured"], rows)


def grid_table(model: dict[str, Any]) -> list[str]:
    ours, ref = model["predict"].get("ours", {}), model["predict"].get("reference", {})
    pess = model["pessimistic"].get("ours", {})
    rows = []
    for n in sorted(ours, key=int):
        o, p, r = ours[n], pess.get(n), ref.get(n)
        rows.append([n, f"{o['bytes'] / 1024:.0f}", f"{p['bytes'] / 1024:.0f}" if p else "-", f"{1000 * o['cpu_s']:.0f}",
                     f"{o['rpcs']:.0f}", f"{o['finds_per_lookup']:.1f}", f"{o['hot_key']['bytes_served_per_window'] / 1024:.0f}",
                     f"{r['bytes'] / 1024:.0f}" if r else "-",
                     f"{1000 * r['cpu_s']:.0f} / {1000 * r['cpu_s_bytes_only']:.0f}" if r else "-",
                     f"{r['hot_key']['bytes_served_per_window'] / 1024:.0f}" if r else "-"])
    return _table(["N", "ours KiB", "ours KiB (1 bit/hop)", "ours CPU ms", "ours RPCs", "finds per lookup", "ours hot key KiB/window",
                   "reference KiB", "reference CPU ms (fit / per byte at largest N)", "reference hot key KiB/window"], rows)


def targets(data: dict[str, Any]) -> list[str]:
    by = {(r["pattern"], r["n"]): r for r in data["measured"]}
    lines = []
    lo, hi = by.get(("ours", 8)), by.get(("ours", 32))
    if lo and hi:
        ann = lambda r: r["by_category"].get("announcements", {}).get("bytes", 0)  # noqa: E731
        payload = lambda r: r["by_category"].get("announcements", {}).get("v_find", 0) + r["values"]["announcements"]["written"]  # noqa: E731
        lines += [f"measured 32 / 8 nodes, ours: bytes {(hi['read'] + hi['written']) / (lo['read'] + lo['written']):.2f}x, "
                  f"CPU {hi['cpu_s'] / lo['cpu_s']:.2f}x (targets <= 1.5); announcement bytes {ann(hi) / ann(lo):.2f}x, of which "
                  f"announcement values {payload(hi) / payload(lo):.2f}x (the rest: find answers list min(20, N-2) neighbours); "
                  f"hottest key finds {hi['hottest_key_finds'] / lo['hottest_key_finds']:.2f}x"]
    ours = data["model"]["predict"].get("ours", {})
    if "32" in ours and "10000" in ours:
        pess = data["model"]["pessimistic"]["ours"]
        lines.append(f"modeled 10,000 / 32 peers, ours bytes: {ours['10000']['bytes'] / ours['32']['bytes']:.2f}x "
                     f"(1 bit per hop: {pess['10000']['bytes'] / pess['32']['bytes']:.2f}x; target <= 2)")
        ref = data["model"]["predict"].get("reference", {}).get("10000")
        if ref:
            lines.append(f"modeled at 10,000: ours {ours['10000']['bytes'] / 2**20:.2f} MiB and {ours['10000']['cpu_s']:.2f} s CPU per node "
                         f"per round, reference {ref['bytes'] / 2**20:,.0f} MiB and {ref['cpu_s_bytes_only']:,.0f}-{ref['cpu_s']:,.0f} s; "
                         f"hottest key served per window: "
                         f"ours {ours['10000']['hot_key']['bytes_served_per_window'] / 1024:.0f} KiB (as at 32: "
                         f"{ours['32']['hot_key']['bytes_served_per_window'] / 1024:.0f}), reference "
                         f"{ref['hot_key']['bytes_served_per_window'] / 2**30:,.0f} GiB")
    return lines


def print_tables(data: dict[str, Any]) -> None:
    measured, model = data["measured"], data["model"]
    blocks = [("Measured, per node per round (one window; one collector at a time)", measured_table(measured)),
              ("Own RPCs by category: KiB (sent + answers) / RPCs per node per round", split_table(measured)),
              ("Bounded per-node work (ours): mean per round (max over nodes)", bounds_table(measured)),
              (f"Model vs measured (calibrated on N in {model.get('calibrate_on')})", check_table(model)),
              ("Model, per node per round", grid_table(model) if model.get("predict") else [])]
    for title, lines in blocks:
        print(f"\n### {title}\n" + "\n".join(lines))
    print("\n" + "\n".join(f"# {line}" for line in targets(data)))


def write_plot(data: dict[str, Any], path: Path) -> Path | None:
    """Per-node bytes and CPU per round against N (log scales): measured points, model lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    model = data["model"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (quantity, scale, label) in zip(axes, [("bytes", 1 / 1024, "KiB per node per round"), ("cpu_s", 1000, "CPU ms per node per round")]):
        for pattern, color in (("ours", "tab:blue"), ("reference", "tab:red")):
            pred = model["predict"].get(pattern, {})
            if pred:
                ns = sorted(pred, key=int)
                ax.plot([int(n) for n in ns], [pred[n][quantity] * scale for n in ns], "-", color=color, label=f"{pattern}, model")
                if quantity == "cpu_s" and pattern == "reference":
                    ax.plot([int(n) for n in ns], [pred[n]["cpu_s_bytes_only"] * scale for n in ns], "--", color=color,
                            label="reference, model (CPU per byte as at the largest N)")
                pess = model["pessimistic"][pattern]
                ax.plot([int(n) for n in ns], [pess[n][quantity] * scale for n in ns], ":", color=color, label=f"{pattern}, model (1 bit/hop)")
            pts = [r for r in data["measured"] if r["pattern"] == pattern]
            ax.plot([r["n"] for r in pts], [(r["read"] + r["written"] if quantity == "bytes" else r[quantity]) * scale for r in pts],
                    "o", color=color, label=f"{pattern}, measured")
        ax.set(xscale="log", yscale="log", xlabel="peers N", ylabel=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    fig.suptitle("Per-node cost per round: measured (4-32 processes on 2 cores) and modeled to 10,000 peers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
