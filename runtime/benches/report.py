#!/usr/bin/env python3
"""Tables for docs/performance.md from criterion's results of one run.

Usage: runtime/benches/report.py [CRITERION_DIR]
(default: $CARGO_TARGET_DIR/criterion, else target/criterion).

Every figure is a median. "Overhead" is a row's median minus the group's
unannotated (or bare) row; ratios divide correlated's overhead by a peer's, so
below 1 means correlated adds less.
"""

import json
import os
import sys
from pathlib import Path


def load(root):
    medians = {}
    for estimates in root.glob("*/*/new/estimates.json"):
        group, bench = estimates.parts[-4], estimates.parts[-3]
        with open(estimates) as f:
            medians[(group, bench)] = json.load(f)["median"]["point_estimate"]
    return medians


def ns(value):
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "–"
    return f"{a / b:.2f}×"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def overhead_table(m, group, baseline, ours, rows):
    """Median, overhead over `baseline`, and `ours`' overhead ÷ each row's."""
    base = m.get((group, baseline))
    mine = m.get((group, ours))
    mine_over = None if mine is None or base is None else mine - base
    out = []
    for bench in rows:
        t = m.get((group, bench))
        if t is None:
            continue
        over = t - base if bench != baseline else None
        out.append(
            [f"`{bench}`", ns(t), ns(over), ratio(mine_over, over) if bench != ours else "1"]
        )
    return f"`{group}` (ns; ratio = `{ours}` overhead ÷ row's overhead)\n\n" + table(
        ["variant", "median", "overhead", "ratio"], out
    )


def per_poll_table(m, ours, rows):
    u0, u10 = m.get(("async_0_polls", "unannotated")), m.get(("async_10_polls", "unannotated"))
    out, per = [], {}
    for bench in rows:
        t0, t10 = m.get(("async_0_polls", bench)), m.get(("async_10_polls", bench))
        if None in (t0, t10, u0, u10):
            continue
        fixed = t0 - u0
        poll = ((t10 - t0) - (u10 - u0)) / 10
        per[bench] = (fixed, poll)
    mine = per.get(ours)
    for bench, (fixed, poll) in per.items():
        out.append(
            [
                f"`{bench}`",
                ns(fixed),
                ns(poll),
                "1" if bench == ours else ratio(mine[0], fixed) if mine else "–",
                "1" if bench == ours else ratio(mine[1], poll) if mine else "–",
            ]
        )
    return (
        f"Async overheads from `async_0_polls` and `async_10_polls` (ns; fixed = "
        f"0-poll overhead, per poll = ((T10 − T0) − (U10 − U0)) / 10; ratios = `{ours}` ÷ row)\n\n"
        + table(["variant", "fixed", "per poll", "fixed ratio", "per-poll ratio"], out)
    )


def plain_table(m, group, reference, rows, label):
    ref = m.get((group, reference))
    out = []
    for bench in rows:
        t = m.get((group, bench))
        if t is not None:
            out.append([f"`{bench}`", ns(t), ratio(t, ref)])
    return f"`{group}` (ns; ratio = row ÷ `{reference}`)\n\n" + table(
        ["variant", "median", label], out
    )


def main():
    default = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    m = load(root)
    sync_rows = [
        "unannotated",
        "correlated_id",
        "correlated_inherit",
        "correlated_generating",
        "scope_guard",
        "context_run",
        "task_local_sync_scope",
        "instrument_no_subscriber",
        "instrument_registry",
        "otel_attach",
    ]
    async_rows = [
        "unannotated",
        "correlated_id",
        "correlated_inherit",
        "context_wrap",
        "task_local_scope",
        "instrument_no_subscriber",
        "instrument_registry",
        "otel_with_context",
    ]
    print(overhead_table(m, "sync_handler", "unannotated", "correlated_id", sync_rows))
    for group in ("async_0_polls", "async_10_polls"):
        print()
        print(overhead_table(m, group, "unannotated", "correlated_id", async_rows))
    print()
    print(per_poll_table(m, "correlated_id", async_rows[1:]))
    print()
    read_rows = sorted(b for g, b in m if g == "read")
    print(plain_table(m, "read", "task_local_try_with", read_rows, "÷ try_with"))
    print()
    id_rows = sorted(b for g, b in m if g == "id")
    print(plain_table(m, "id", "correlate_generate", id_rows, "÷ generate"))
    for group in ("http_new_id", "http_incoming_id"):
        rows = sorted((b for g, b in m if g == group), key=lambda b: (b != "no_layer", b))
        print()
        print(overhead_table(m, group, "no_layer", "correlate_layer", rows))


if __name__ == "__main__":
    main()
