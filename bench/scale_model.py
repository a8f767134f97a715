#!/usr/bin/env python3
"""The daily run's scale model from bench/scale.sh's measurements: each figure fitted against the
number of posts (least squares, y = a + b*N), projected to 100,000,000 posts, and the sizes where a
10 GB / 15 min Lambda stops being enough.

    scale_model.py WORK SIZE [SIZE ...]

Prints Markdown (the table for BENCHMARKS.md). Figures per size: WORK/<size>/{clean,insights,
maintain}.{summary,measure}.json, duckdb.measure.json, duckdb/timings.json, raw_bytes, batch_bytes,
manifest.json.
"""
import json
import os
import sys

LAMBDA_MIB = 10240
# what the function keeps for itself beside a stage's peak: the runtime, the SDK, the allocator's slack
HEADROOM_MIB = 1024
LAMBDA_S = 900
BUDGET_S = 600  # the template's PINPIPE_TIME_BUDGET_SECONDS: no cleaning chunk starts later
TARGET = 100_000_000


def load(path):
    with open(path) as f:
        return json.load(f)


def fit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    a = my - b * mx
    worst = max(abs((a + b * x) - y) / y for x, y in zip(xs, ys) if y) if n > 2 else 0.0
    return a, b, worst


def main():
    work, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
    rows = []
    for n in sizes:
        d = os.path.join(work, str(n))
        r = {"posts": n, "distinct": load(f"{d}/manifest.json")["distinct"]}
        r["raw_mb"] = int(open(f"{d}/raw_bytes").read()) / 2**20
        r["batch_mb"] = int(open(f"{d}/batch_bytes").read()) / 2**20
        for stage, key in (("clean", "clean_ms"), ("insights", "insights_ms"), ("maintain", "maintenance_ms")):
            s, m = load(f"{d}/{stage}.summary.json"), load(f"{d}/{stage}.measure.json")
            r[f"{stage}_s"] = s[key] / 1000
            r[f"{stage}_wall"] = m["wall_s"]
            r[f"{stage}_cpu"] = m["cpu_s"]
            r[f"{stage}_mib"] = m["tree_pss_peak_mib"]
        if os.path.exists(f"{d}/duckdb.measure.json"):
            t, m = load(f"{d}/duckdb/timings.json"), load(f"{d}/duckdb.measure.json")
            r["duck_clean_s"], r["duck_insights_s"] = t["clean_s"], t["insights_s"]
            r["duck_mib"], r["duck_wall"] = m["tree_pss_peak_mib"], m["wall_s"]
        if os.path.exists(f"{d}/compare.txt"):
            r["equal"] = open(f"{d}/compare.txt").read().count("EQUAL")
        rows.append(r)

    xs = [r["posts"] for r in rows]
    cols = [
        ("raw JSON landed", "raw_mb", "MB"),
        ("batch tables (Parquet)", "batch_mb", "MB"),
        ("clean: the engine's timer", "clean_s", "s"),
        ("clean: CPU", "clean_cpu", "s"),
        ("clean: peak PSS", "clean_mib", "MiB"),
        ("nine insights: the engine's timer", "insights_s", "s"),
        ("nine insights: peak PSS", "insights_mib", "MiB"),
        ("maintenance: the engine's timer", "maintain_s", "s"),
        ("maintenance: peak PSS", "maintain_mib", "MiB"),
        ("DuckDB clean", "duck_clean_s", "s"),
        ("DuckDB nine insights", "duck_insights_s", "s"),
        ("DuckDB peak PSS", "duck_mib", "MiB"),
    ]
    fits = {}
    print("| | " + " | ".join(f"{n:,} posts" for n in xs) + " | fit: per million posts (+ fixed) | worst residual | projected, 100M posts |")
    print("|---|" + "---:|" * (len(xs) + 3))
    for label, key, unit in cols:
        if not all(key in r for r in rows):
            continue
        ys = [r[key] for r in rows]
        a, b, worst = fit(xs, ys)
        fits[key] = (a, b)
        fmt = (lambda v: f"{v:,.0f}") if unit in ("MB", "MiB") else (lambda v: f"{v:,.2f}")
        cells = " | ".join(f"{fmt(y)} {unit}" for y in ys)
        print(f"| {label} | {cells} | {fmt(b * 1e6)} {unit} (+ {fmt(a)}) | {worst:.0%} | {fmt(a + b * TARGET)} {unit} |")
    if all("equal" in r for r in rows):
        print(f"\nThe nine insight tables equal DuckDB's at every size: {', '.join(str(r['equal']) + '/9' for r in rows)}.")

    def reach(key, limit):
        a, b = fits[key]
        return (limit - a) / b if b > 0 else float("inf")

    per_run = reach("clean_s", BUDGET_S)
    mem = reach("insights_mib", LAMBDA_MIB - HEADROOM_MIB)
    time_left = reach("insights_s", LAMBDA_S - BUDGET_S)
    batch_per_post = fits["batch_mb"][1]
    print()
    ca, cb = fits["clean_mib"]
    print(f"- Cleaning reads in chunks, so its memory grows only with the `ind` sets ({cb * 1e6:,.0f} MiB per million posts over {ca:,.0f} MiB; "
          f"{ca + cb * TARGET:,.0f} MiB projected for a 100M-post backlog, {reach('clean_mib', LAMBDA_MIB - HEADROOM_MIB) / 1e6:,.0f} M posts before {LAMBDA_MIB - HEADROOM_MIB:,} MiB); "
          f"its time grows with the posts: one run's {BUDGET_S} s budget cleans about {per_run / 1e6:,.0f} M posts on 2 cores (the rest is left for the next run).")
    print(f"- The nine insights scan the whole batch tables: their peak memory reaches {LAMBDA_MIB - HEADROOM_MIB:,} MiB (10 GB less {HEADROOM_MIB:,} MiB of headroom) "
          f"at about {mem / 1e6:,.0f} M posts, and their time reaches the {LAMBDA_S - BUDGET_S} s left after a full cleaning budget at about {time_left / 1e6:,.0f} M posts.")
    limit = min(mem, time_left)
    print(f"- So one 10 GB / 15 min Lambda stops being enough for the insights at about {limit / 1e6:,.0f} M posts "
          f"= {fits['batch_mb'][0] + batch_per_post * limit:,.0f} MB of batch Parquet ({batch_per_post * 1e6:,.0f} MB per million posts); "
          f"PINPIPE_ATHENA_ABOVE_MB (default 4,096 MB = about {(4096 - fits['batch_mb'][0]) / batch_per_post / 1e6:,.0f} M posts) hands them to Athena before that.")


if __name__ == "__main__":
    main()
