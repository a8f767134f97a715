#!/usr/bin/env python3
"""bench/run.sh's side-by-side table from its result files (medians over the rounds).

    summarize_run.py RESULTS_DIR

Reads RESULTS_DIR/manifest.json (the data set), <engine>-run<k>.measure.json (measure.py: wall_s,
cpu_s, tree_pss_peak_mib), pinpipe's summaries (`pinpipe daily` prints clean_ms, insights_ms,
rows_written), DuckDB's and Spark's timings.json (clean_s, insights_s, clean_rows) and the floor's
summary. Exits 1 when an engine's clean row count is not the manifest's.
"""
import glob
import json
import os
import platform
import statistics
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return f"{os.cpu_count()} cores ({model}), {mem / 1024 / 1024:.0f} GiB RAM, {platform.system()} {platform.release()}"


def runs(res, name, suffix):
    return [load(p) for p in sorted(glob.glob(os.path.join(res, f"{name}-run*.{suffix}.json")))]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    res = sys.argv[1]
    man = load(os.path.join(res, "manifest.json"))
    posts, distinct = man["posts"], man["distinct"]
    records = 3 * posts
    mb = sum(man["bytes"].values()) / 1e6
    expected = sum(man["expected_clean_rows"].values())

    engines = {}  # name -> dict of medians
    problems = []

    floor_m = runs(res, "floor", "measure")
    if floor_m:
        floor_s = runs(res, "floor", "summary")
        engines["floor"] = dict(
            clean_s=med(s["ms"] / 1000 for s in floor_s), clean_wall=med(m["wall_s"] for m in floor_m),
            clean_cpu=med(m["cpu_s"] for m in floor_m), clean_pss=max(m["tree_pss_peak_mib"] for m in floor_m),
            runs=len(floor_m))
        if floor_s[-1]["records"] != records:
            problems.append(f"floor parsed {floor_s[-1]['records']} records, not {records}")

    clean_m, clean_s = runs(res, "pinpipe-clean", "measure"), runs(res, "pinpipe-clean", "summary")
    ins_m, ins_s = runs(res, "pinpipe-insights", "measure"), runs(res, "pinpipe-insights", "summary")
    if clean_m:
        engines["pinpipe"] = dict(
            clean_s=med(s["clean_ms"] / 1000 for s in clean_s), clean_wall=med(m["wall_s"] for m in clean_m),
            clean_cpu=med(m["cpu_s"] for m in clean_m), clean_pss=max(m["tree_pss_peak_mib"] for m in clean_m),
            insights_s=med(s["insights_ms"] / 1000 for s in ins_s), insights_wall=med(m["wall_s"] for m in ins_m),
            insights_pss=max(m["tree_pss_peak_mib"] for m in ins_m),
            wall=med(a["wall_s"] + b["wall_s"] for a, b in zip(clean_m, ins_m)),
            cpu=med(a["cpu_s"] + b["cpu_s"] for a, b in zip(clean_m, ins_m)),
            pss=max(m["tree_pss_peak_mib"] for m in clean_m + ins_m), runs=len(clean_m))
        got = clean_s[-1]["rows_written"]
        if got != expected:
            problems.append(f"pinpipe wrote {got} clean rows, not {expected}")
        if len(ins_s[-1]["insight_tables_written"]) != 9:
            problems.append(f"pinpipe wrote {ins_s[-1]['insight_tables_written']}, not nine insight tables")

    for name in ("duckdb", "spark"):
        meas, tims = runs(res, name, "measure"), runs(res, name, "timings")
        if not meas:
            continue
        engines[name] = dict(
            clean_s=med(t["clean_s"] for t in tims), insights_s=med(t["insights_s"] for t in tims),
            startup_s=med(t.get("startup_s") for t in tims),
            wall=med(m["wall_s"] for m in meas), cpu=med(m["cpu_s"] for m in meas),
            pss=max(m["tree_pss_peak_mib"] for m in meas), runs=len(meas))
        got = sum(tims[-1]["clean_rows"].values())
        if got != expected:
            problems.append(f"{name} kept {got} clean rows, not {expected}")

    cols = [c for c in ("pinpipe", "duckdb", "spark", "floor") if c in engines]
    title = {"pinpipe": "pinpipe (Delta, exactly once)", "duckdb": "DuckDB 1.5.5, 2 threads (Parquet)",
             "spark": "PySpark 3.5.1 local[2] (Parquet)", "floor": "floor: serde_json `Value`, 1 thread"}

    def cell(engine, key, fmt="{:.2f} s"):
        v = engines[engine].get(key)
        return "—" if v is None else fmt.format(v)

    def rate(engine, key, n, unit):
        v = engines[engine].get(key)
        return "—" if not v else (f"{n / v / 1e6:.2f} M{unit}" if n / v >= 1e6 else f"{n / v / 1e3:.0f} k{unit}")

    rows = [
        ("clean: read + clean + de-duplicate + write (the engine's own timer)", lambda e: cell(e, "clean_s")),
        ("clean: records/s", lambda e: rate(e, "clean_s", records, "")),
        ("clean: MB/s of raw JSON", lambda e: "—" if not engines[e].get("clean_s") else f"{mb / engines[e]['clean_s']:.0f}"),
        ("clean: whole process, wall", lambda e: cell(e, "clean_wall")),
        ("clean: whole process, CPU", lambda e: cell(e, "clean_cpu")),
        ("clean: whole process, peak RSS (PSS of the tree)", lambda e: cell(e, "clean_pss", "{:.0f} MiB")),
        ("nine insights (the engine's own timer)", lambda e: cell(e, "insights_s")),
        ("nine insights: whole process, wall / peak RSS",
         lambda e: "—" if "insights_wall" not in engines[e] else
         f"{engines[e]['insights_wall']:.2f} s / {engines[e]['insights_pss']:.0f} MiB"),
        ("engine start (DuckDB: connect; Spark: JVM + SparkSession)", lambda e: cell(e, "startup_s")),
        ("clean + insights: wall (all processes)", lambda e: cell(e, "wall")),
        ("clean + insights: CPU", lambda e: cell(e, "cpu")),
        ("clean + insights: peak RSS (PSS of the tree)", lambda e: cell(e, "pss", "{:.0f} MiB")),
    ]
    out = [f"{posts:,} posts: {records:,} raw records, {mb:.0f} MB of JSON lines, {distinct:,} distinct "
           f"posts ({expected:,} clean rows expected). Medians of {engines[cols[0]]['runs']} interleaved "
           f"rounds. Machine: {machine()}.", "",
           "| | " + " | ".join(title[c] for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    for label, fn in rows:
        values = [fn(c) for c in cols]
        if all(v == "—" for v in values):
            continue
        out.append(f"| {label} | " + " | ".join(values) + " |")
    p = engines.get("pinpipe")
    if p:
        out.append("")
        for other in ("duckdb", "spark"):
            if other in engines:
                o = engines[other]
                out.append(f"- pinpipe vs {title[other]}: clean in {p['clean_s'] / o['clean_s']:.2f}× its time "
                           f"({o['clean_s'] / p['clean_s']:.1f}× the speed), insights in "
                           f"{p['insights_s'] / o['insights_s']:.2f}× its time, peak RSS "
                           f"{p['pss'] / o['pss']:.2f}× its peak.")
        if "floor" in engines:
            f = engines["floor"]
            out.append(f"- pinpipe's clean vs the serde_json floor: {p['clean_s'] / f['clean_s']:.2f}× its wall time "
                       f"(CPU: {p['clean_cpu']:.2f} s vs {f['clean_cpu']:.2f} s).")
    for problem in problems:
        out.append(f"- PROBLEM: {problem}")
    print("\n".join(out))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
