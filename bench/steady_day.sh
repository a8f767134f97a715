#!/usr/bin/env bash
# The daily run's steady state (issue 20, item 2): a day's new posts cleaned on top of batch tables
# that already hold BASE posts, compacted as the daily maintenance leaves them — what every day after
# the first costs. The data set's first BASE posts are landed, cleaned and maintained (not timed); its
# next DAY posts are landed under topics of their own (as new offsets would be); then
# `pinpipe daily --stages clean` (the re-post check's cold load of every `ind` the tables hold, and
# the day's cleaning) and `--stages insights` are measured from outside (wall, CPU, peak PSS).
#
#   bench/steady_day.sh                               # BASE=9900000 DAY=100000 of the 10M data set
#   POSTS=1000000 BASE=990000 DAY=10000 bench/steady_day.sh
#
# Needs: a release `pinpipe` (cargo build --profile bench -p pinpipe-cli), about 2.2 GB of free disk
# per million posts (the raw zone and the tables; the data set is read through pipes, not copied).
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS="${POSTS:-10000000}"
DAY="${DAY:-$((POSTS / 100))}"
BASE="${BASE:-$((POSTS - DAY))}"
SHARED="${PINPIPE_SHARED_DIR:-../shared}"
DATA="${DATA:-/tmp/pinpipe-bench/data-$POSTS}"
WORK="${WORK:-/tmp/pinpipe-bench/steady-$POSTS}"
PINPIPE="${PINPIPE:-${CARGO_TARGET_DIR:-target}/release/pinpipe}"
measure() { python3 "$SHARED/bench/measure.py" --json "$@"; }
[ -x "$PINPIPE" ] || { echo "no pinpipe binary at $PINPIPE" >&2; exit 1; }
[ $((BASE + DAY)) -le "$POSTS" ] || { echo "BASE + DAY is more than the data set's $POSTS posts" >&2; exit 1; }
[ -f "$DATA/manifest.json" ] || python3 "$SHARED/bench/make_dataset.py" --posts "$POSTS" --out "$DATA"
lake="$WORK/lake"
rm -rf "$WORK" && mkdir -p "$WORK/base" "$WORK/day"

# land lines [from, from + count) of each table's file (the three files hold one post per line, in
# the same order) under topics <prefix>.<table>, through named pipes
land_lines() {
  local prefix="$1" from="$2" count="$3" dir="$WORK/$1"
  for table in pin geo user; do
    rm -f "$dir/$table.jsonl" && mkfifo "$dir/$table.jsonl"
    (tail -n "+$((from + 1))" "$DATA/$table.jsonl" | head -n "$count" > "$dir/$table.jsonl") &
  done
  "$PINPIPE" land --warehouse "$lake" --source "$dir" --topic-prefix "$prefix" --partitions 4 --records-per-object 10000
  wait
}

echo "== the tables before the day: $BASE posts landed, cleaned and maintained (not timed)"
land_lines base 0 "$BASE"
"$PINPIPE" daily --warehouse "$lake" --date 2026-11-26 --stages clean,maintain --budget-seconds 86400 > "$WORK/base.summary.json"
du -sb "$lake/tables/batch" | cut -f1 > "$WORK/base_batch_bytes"

echo "== the day: the next $DAY posts, landed under topics of their own"
land_lines day "$BASE" "$DAY"
for stage in clean insights; do
  echo "-- pinpipe daily --stages $stage"
  measure "$WORK/$stage.measure.json" -- \
    "$PINPIPE" daily --warehouse "$lake" --date 2026-11-27 --stages "$stage" --budget-seconds 86400 \
    > "$WORK/$stage.summary.json"
done

python3 - "$WORK" "$BASE" "$DAY" <<'PY'
import json, sys
work, base, day = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = {s: json.load(open(f"{work}/{s}.measure.json")) for s in ("clean", "insights")}
s = {s: json.load(open(f"{work}/{s}.summary.json")) for s in ("clean", "insights")}
batch_mb = int(open(f"{work}/base_batch_bytes").read()) / 1e6
print(f"\nA day of {day:,} posts on tables holding {base:,} posts ({batch_mb:,.0f} MB of batch Parquet):\n")
print("| stage | wall | CPU | peak (PSS) | the stage's own timer | rows written |")
print("|---|---:|---:|---:|---:|---:|")
for stage, timer, rows in (("clean", "clean_ms", "rows_written"), ("insights", "insights_ms", "insight_rows")):
    print(f"| {stage} | {m[stage]['wall_s']:.2f} s | {m[stage]['cpu_s']:.2f} s | "
          f"{m[stage]['tree_pss_peak_mib']:,.0f} MiB | {s[stage][timer] / 1000:.2f} s | "
          f"{s[stage][rows]:,} |")
print(f"\nThe day's records: {s['clean']['records_in']:,}; dropped as re-sent within the day or "
      f"re-posts of rows the tables held: {s['clean']['duplicates_skipped']:,}.")
PY
