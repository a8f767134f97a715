#!/usr/bin/env bash
# The daily run as the batch tables grow (issue 20, item 2): for each size in SIZES, the kit's data
# set landed as the msk-consumer lands it, then `pinpipe daily` one stage per process — clean
# (everything: the worst day, a backlog of all of it), the nine insights (DataFusion, in process),
# maintenance — each measured from outside (wall, CPU, peak PSS: ../shared/bench/measure.py), beside
# DuckDB doing the same cleaning and the same nine queries on the same files (the kit's
# duckdb_clean_and_insights.py, 2 threads). bench/scale_model.py then fits each figure against the
# number of posts and projects it to 100,000,000 posts and to a 10 GB / 15 min Lambda.
#
#   bench/scale.sh                                  # SIZES="1000000 3000000 10000000"
#   SIZES="10000 30000" bench/scale.sh              # a quick run
#
# Needs: a release `pinpipe` (cargo build --profile bench -p pinpipe-cli), python3 with duckdb 1.5.5,
# about 3.2 GB of free disk per million posts (the data set, the raw zone, the tables; each size's
# lake is removed once measured, KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="${SIZES:-1000000 3000000 10000000}"
SHARED="${PINPIPE_SHARED_DIR:-../shared}"
WORK="${WORK:-/tmp/pinpipe-bench/scale}"
DATA_ROOT="${DATA_ROOT:-/tmp/pinpipe-bench}"  # the data sets, data-<posts>, made when missing
PINPIPE="${PINPIPE:-${CARGO_TARGET_DIR:-target}/release/pinpipe}"
DUCKDB="${DUCKDB:-1}"
measure() { python3 "$SHARED/bench/measure.py" --json "$@"; }
[ -x "$PINPIPE" ] || { echo "no pinpipe binary at $PINPIPE" >&2; exit 1; }
mkdir -p "$WORK"

for posts in $SIZES; do
  data="$DATA_ROOT/data-$posts"
  out="$WORK/$posts"
  lake="$out/lake"
  mkdir -p "$out"
  [ -f "$data/manifest.json" ] || python3 "$SHARED/bench/make_dataset.py" --posts "$posts" --out "$data"
  cp "$data/manifest.json" "$out/manifest.json"
  echo "== $posts posts: the raw zone (not timed; 4 partitions per topic, 10,000 records per object)"
  rm -rf "$lake"
  "$PINPIPE" land --warehouse "$lake" --source "$data" --topic-prefix bench --partitions 4 --records-per-object 10000
  du -sb "$lake/topics" | cut -f1 > "$out/raw_bytes"
  for stage in clean insights maintain; do
    echo "-- pinpipe daily --stages $stage"
    # a budget no stage reaches: the whole backlog is cleaned in one run
    measure "$out/$stage.measure.json" -- \
      "$PINPIPE" daily --warehouse "$lake" --date 2026-11-27 --stages "$stage" --budget-seconds 86400 \
      > "$out/$stage.summary.json"
  done
  du -sb "$lake/tables/batch" | cut -f1 > "$out/batch_bytes"
  if [ "$DUCKDB" = 1 ]; then
    echo "-- DuckDB 1.5.5, 2 threads: the same cleaning and the same nine queries"
    rm -rf "$out/duckdb"
    measure "$out/duckdb.measure.json" -- \
      python3 "$SHARED/bench/duckdb_clean_and_insights.py" --src "$data" --out "$out/duckdb" --threads 2
    echo "-- the insights, row for row: pinpipe's tables vs DuckDB's output"
    python3 bench/compare_insights.py "$lake" "$out/duckdb" 2026-11-27 | tee "$out/compare.txt"
    rm -rf "$out/duckdb/"*.parquet "$out/duckdb/"*/ 2>/dev/null || true
  fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$lake"
done

python3 bench/scale_model.py "$WORK" $SIZES | tee "$WORK/model.md"
