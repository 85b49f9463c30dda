#!/usr/bin/env python3
"""Plots latency against offered load from `jiceng bench --sweep --json` runs.

    pip install matplotlib
    python3 scripts/plot_bench.py docs/bench-latency.png SQLite=sqlite.json PostgreSQL=pg.json

One panel per operation: p50 and p99 latency (ms, log scale) at each offered rate, one line per
backend, the 25 ms p99 target drawn across.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {
    "org-subtree": "org subtree (a street)",
    "org-tree": "whole tree (15,589 units)",
    "grid-report": "grid report",
    "grid-dispatch": "grid dispatch",
    "grid-dashboard": "street dashboard",
    "points-award": "points award",
    "points-redeem": "points redeem",
    "notify-publish": "notify publish",
    "notify-inbox": "notify inbox",
    "property-publish": "disclosure publish",
    "property-proof": "inclusion proof",
}


def sweeps(path):
    """op -> [(offered per second, p50 ms, p99 ms)] of the open-loop gRPC runs in a report."""
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    found = {}
    for run in report["runs"]:
        if run["path"] != "grpc" or run["offered_per_sec"] is None:
            continue
        found.setdefault(run["op"], []).append(
            (run["offered_per_sec"], run["p50_ms"], run["p99_ms"])
        )
    return {op: sorted(points) for op, points in found.items()}


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out = argv[1]
    series = []
    for arg in argv[2:]:
        label, _, path = arg.partition("=")
        series.append((label, sweeps(path)))
    ops = [op for op in NAMES if any(op in s for _, s in series)]
    if not ops:
        sys.exit("no sweep runs (jiceng bench --sweep) in the reports")
    cols = 4
    rows = (len(ops) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, op in zip(axes.flat, ops):
        for (label, found), colour in zip(series, ["tab:blue", "tab:orange", "tab:green"]):
            points = found.get(op, [])
            if not points:
                continue
            rates = [p[0] for p in points]
            ax.plot(rates, [p[1] for p in points], "--", color=colour, label=f"{label} p50")
            ax.plot(rates, [p[2] for p in points], "-o", color=colour, label=f"{label} p99")
        ax.axhline(25, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(NAMES[op], fontsize=10)
        ax.set_xlabel("offered calls/s")
        ax.set_ylabel("latency (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", linewidth=0.3)
    for ax in list(axes.flat)[len(ops):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", fontsize=9)
    fig.suptitle("jiceng bench: latency against offered load (dotted: 25 ms)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv)
