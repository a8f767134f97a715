#!/usr/bin/env bash
# pinpipe against the engines a user would otherwise pick, on the same data, in the same run:
# the kit's data set (../shared/bench/make_dataset.py), cleaned into tables and the nine insights
# computed by
#   - pinpipe: `pinpipe daily --stages clean` (the daily-analytics function's library path: raw-zone
#     objects → the three batch Delta tables, exactly once, quarantine, re-post check), then
#     `pinpipe daily --stages insights` on those tables (two processes, so each is measured alone);
#   - DuckDB 1.5.5 and PySpark 3.5.1 (local[2]): the kit's duckdb_clean_and_insights.py and
#     spark_clean_and_insights.py on the same three files;
#   - the floor: `json-floor` (bench/json-floor), a plain serde_json parse of the same bytes on one thread.
# Interleaved rounds (floor, pinpipe, DuckDB, Spark; again), RUNS of each; the table reports
# medians. Every process is measured from outside by ../shared/bench/measure.py (wall, CPU, peak
# PSS of the whole process tree). The last round's insights are checked row for row against
# DuckDB's, and each engine's clean row counts against the data set's manifest.
#
#   bench/run.sh                           # 1,000,000 posts, 3 rounds
#   POSTS=1000 RUNS=1 bench/run.sh         # the smoke run .ci/run does (with a dev build)
#
# Settings (environment): POSTS, RUNS, PINPIPE (the binary; default: the bench-profile build),
# WORK (results; default /tmp/pinpipe-bench/run-$POSTS), DATA (the data set; made when missing),
# SPARK=0 to leave PySpark out.
# Needs: python3 with duckdb==1.5.5, pyspark==3.5.1 and deltalake (the insight comparison), Java 17.
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS="${POSTS:-1000000}"
RUNS="${RUNS:-3}"
SPARK="${SPARK:-1}"
SHARED="${PINPIPE_SHARED_DIR:-../shared}"
WORK="${WORK:-/tmp/pinpipe-bench/run-$POSTS}"
DATA="${DATA:-/tmp/pinpipe-bench/data-$POSTS}"
PINPIPE="${PINPIPE:-${CARGO_TARGET_DIR:-target}/release/pinpipe}"
# the floor is its own small binary beside pinpipe (bench/json-floor), not a product command
JSON_FLOOR="${JSON_FLOOR:-$(dirname "$PINPIPE")/json-floor}"
RUN_DATE=2026-11-27
measure() { python3 "$SHARED/bench/measure.py" --json "$@"; }

[ -x "$PINPIPE" ] || { echo "no pinpipe binary at $PINPIPE (cargo build --profile bench -p pinpipe-cli -p json-floor, or set PINPIPE)" >&2; exit 1; }
[ -x "$JSON_FLOOR" ] || { echo "no json-floor binary at $JSON_FLOOR (cargo build --profile bench -p json-floor, or set JSON_FLOOR)" >&2; exit 1; }
[ -f "$DATA/manifest.json" ] || python3 "$SHARED/bench/make_dataset.py" --posts "$POSTS" --out "$DATA"
rm -rf "$WORK"
mkdir -p "$WORK/results"
cp "$DATA/manifest.json" "$WORK/results/manifest.json"

echo "== the raw zone (not timed): the three files as the msk-consumer lands them, 4 partitions per topic, 10,000 records per object"
"$PINPIPE" land --warehouse "$WORK/raw" --source "$DATA" --topic-prefix bench --partitions 4 --records-per-object 10000

for run in $(seq 1 "$RUNS"); do
  echo "== round $run of $RUNS"
  echo "-- floor: serde_json::Value per line, one thread"
  measure "$WORK/results/floor-run$run.measure.json" -- \
    "$JSON_FLOOR" "$DATA/pin.jsonl" "$DATA/geo.jsonl" "$DATA/user.jsonl" > "$WORK/results/floor-run$run.summary.json"

  echo "-- pinpipe: clean, then the nine insights (a fresh lake over the same raw objects, hard links)"
  lake="$WORK/lake-run$run"
  rm -rf "$lake" && cp -al "$WORK/raw" "$lake"
  measure "$WORK/results/pinpipe-clean-run$run.measure.json" -- \
    "$PINPIPE" daily --warehouse "$lake" --date "$RUN_DATE" --stages clean > "$WORK/results/pinpipe-clean-run$run.summary.json"
  measure "$WORK/results/pinpipe-insights-run$run.measure.json" -- \
    "$PINPIPE" daily --warehouse "$lake" --date "$RUN_DATE" --stages insights > "$WORK/results/pinpipe-insights-run$run.summary.json"
  [ "$run" -eq "$RUNS" ] || rm -rf "$lake"

  echo "-- DuckDB"
  rm -rf "$WORK/duckdb"
  measure "$WORK/results/duckdb-run$run.measure.json" -- \
    python3 "$SHARED/bench/duckdb_clean_and_insights.py" --src "$DATA" --out "$WORK/duckdb" --threads 2 --run-date "$RUN_DATE" > /dev/null
  cp "$WORK/duckdb/timings.json" "$WORK/results/duckdb-run$run.timings.json"

  if [ "$SPARK" = 1 ]; then
    echo "-- PySpark"
    rm -rf "$WORK/spark"
    measure "$WORK/results/spark-run$run.measure.json" -- \
      python3 "$SHARED/bench/spark_clean_and_insights.py" --src "$DATA" --out "$WORK/spark" --shuffle-partitions 8 --run-date "$RUN_DATE" > /dev/null 2> "$WORK/spark.log" \
      || { tail -20 "$WORK/spark.log" >&2; exit 1; }
    cp "$WORK/spark/timings.json" "$WORK/results/spark-run$run.timings.json"
  fi
done

echo "== the last round's insights, row for row: pinpipe's tables vs DuckDB's output"
python3 bench/compare_insights.py "$WORK/lake-run$RUNS" "$WORK/duckdb" "$RUN_DATE" | tee "$WORK/results/insights-check.txt"

python3 bench/summarize_run.py "$WORK/results" | tee "$WORK/results/table.md"
