#!/usr/bin/env bash
# Where the 1M-post clean spends its CPU: `perf record` (cpu-clock sampling: this VM has no hardware
# counters) of `pinpipe daily --stages clean` over the data set's raw zone, then the top symbols by
# self time, in CPU seconds, and the callers of the top three.
#
#   bench/profile.sh                      # the bench-profile build (symbols kept), 1,000,000 posts
#   PINPIPE=/path/to/pinpipe bench/profile.sh
#
# Needs: perf (Debian's linux-perf). Call graphs are unwound from .eh_frame (--call-graph dwarf), so no
# debug info is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS="${POSTS:-1000000}"
SHARED="${PINPIPE_SHARED_DIR:-../shared}"
WORK="${WORK:-/tmp/pinpipe-bench/profile-$POSTS}"
DATA="${DATA:-/tmp/pinpipe-bench/data-$POSTS}"
PINPIPE="${PINPIPE:-${CARGO_TARGET_DIR:-target}/release/pinpipe}"
[ -f "$DATA/manifest.json" ] || python3 "$SHARED/bench/make_dataset.py" --posts "$POSTS" --out "$DATA"
mkdir -p "$WORK"
[ -d "$WORK/raw/topics" ] || "$PINPIPE" land --warehouse "$WORK/raw" --source "$DATA" --topic-prefix bench --partitions 4 --records-per-object 10000
rm -rf "$WORK/lake" && cp -al "$WORK/raw" "$WORK/lake"
perf record -q -e cpu-clock -F 499 --call-graph dwarf,32768 -o "$WORK/perf.data" -- \
  "$PINPIPE" daily --warehouse "$WORK/lake" --date 2026-11-27 --stages clean > "$WORK/summary.json"
echo "clean_ms: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['clean_ms'])" "$WORK/summary.json")"
perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null > "$WORK/flat.txt"
python3 - "$WORK/flat.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
total_ns = int(re.search(r"Event count \(approx\.\): (\d+)", text).group(1))
print(f"CPU sampled: {total_ns / 1e9:.2f} s\n\n| symbol | share | CPU s |\n|---|---:|---:|")
rows = re.findall(r"^\s+([\d.]+)%\s+\[[.k]\]\s+(.+?)\s*(?:-\s+-\s*)?$", text, re.M)
for share, symbol in rows[:15]:
    print(f"| `{symbol.strip()}` | {float(share):.1f}% | {float(share) / 100 * total_ns / 1e9:.2f} |")
PY
perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio -G 2>/dev/null > "$WORK/callers.txt"
echo "callers: $WORK/callers.txt"
