#!/usr/bin/env bash
# The daily run over N generated posts, side by side with DuckDB doing the same cleaning and the same
# nine queries on the same data (../shared/bench). Results go to $WORK; paste the table into
# BENCHMARKS.md.
#
#   bench/daily.sh                 # 1,000,000 posts
#   POSTS=20000 bench/daily.sh     # a quick run
#
# Needs: a release `pinpipe` (cargo build --profile bench -p pinpipe-cli), python3 with duckdb 1.5.5.
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS="${POSTS:-1000000}"
SHARED="${PINPIPE_SHARED_DIR:-../shared}"
WORK="${WORK:-/tmp/pinpipe-bench/daily-$POSTS}"
DATA="${DATA:-/tmp/pinpipe-bench/data-$POSTS}"
PINPIPE="${PINPIPE:-${CARGO_TARGET_DIR:-target}/release/pinpipe}"
MEASURE="python3 $SHARED/bench/measure.py"
mkdir -p "$WORK"

[ -f "$DATA/manifest.json" ] || python3 "$SHARED/bench/make_dataset.py" --posts "$POSTS" --out "$DATA"

echo "== land the data set in a fresh raw zone (4 partitions per topic, 10,000 records per object; not timed)"
rm -rf "$WORK/lake"
"$PINPIPE" land --warehouse "$WORK/lake" --source "$DATA" --topic-prefix bench --partitions 4 --records-per-object 10000

echo "== pinpipe daily, day one: clean everything, nine insights, maintenance"
$MEASURE --json "$WORK/pinpipe-day1.json" -- "$PINPIPE" daily --warehouse "$WORK/lake" --date 2026-11-27 > "$WORK/summary-day1.json"
echo "== pinpipe daily, day two with no new data: the insights again (a new run date), nothing to clean"
$MEASURE --json "$WORK/pinpipe-day2.json" -- "$PINPIPE" daily --warehouse "$WORK/lake" --date 2026-11-28 > "$WORK/summary-day2.json"
echo "== DuckDB: the same cleaning and the same nine queries over the same files"
$MEASURE --json "$WORK/duckdb.json" -- python3 "$SHARED/bench/duckdb_clean_and_insights.py" --src "$DATA" --out "$WORK/duckdb" --threads 2

echo "== the insights, row for row: pinpipe's tables vs DuckDB's output"
python3 bench/compare_insights.py "$WORK/lake" "$WORK/duckdb" 2026-11-27

python3 - "$WORK" "$POSTS" <<'PY'
import json, sys
work, posts = sys.argv[1], int(sys.argv[2])
load = lambda n: json.load(open(f"{work}/{n}"))
d1, d2, dk = load("pinpipe-day1.json"), load("pinpipe-day2.json"), load("duckdb.json")
s1, s2, dt = load("summary-day1.json"), load("summary-day2.json"), load("duckdb/timings.json")
def mib(m): return f"{m['tree_pss_peak_mib']:.0f} MiB"
print(f"\n{posts:,} posts; pinpipe rows written: {s1['rows_written']:,}; DuckDB clean rows: {dt['clean_rows']}\n")
print("| | pinpipe daily | DuckDB 1.5.5 (2 threads) |")
print("|---|---|---|")
print(f"| clean raw → tables | {s1['clean_ms']/1000:.2f} s (Delta, exactly once) | {dt['clean_s']:.2f} s (Parquet) |")
print(f"| nine insights | {s1['insights_ms']/1000:.2f} s (day two: {s2['insights_ms']/1000:.2f} s) | {dt['insights_s']:.2f} s |")
print(f"| maintenance | {s1['maintenance_ms']/1000:.2f} s (day two: {s2['maintenance_ms']/1000:.2f} s) | — |")
print(f"| whole process, wall | {d1['wall_s']:.2f} s (day two: {d2['wall_s']:.2f} s) | {dk['wall_s']:.2f} s |")
print(f"| CPU time | {d1['cpu_s']:.2f} s (day two: {d2['cpu_s']:.2f} s) | {dk['cpu_s']:.2f} s |")
print(f"| peak memory (PSS of the process tree) | {mib(d1)} (day two: {mib(d2)}) | {mib(dk)} |")
PY
