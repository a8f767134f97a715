#!/usr/bin/env bash
# Load test of the ingest API: a release `pinpipe serve` on 127.0.0.1 producing to tansu (Kafka
# protocol, in memory) and moto (Kinesis), driven by wrk (Debian's `wrk`) with real rows in the
# original emulator's form, at 1 and 64 records per request. Prints a markdown table for
# BENCHMARKS.md.
#
#   bench/ingest_load.sh                     # 20 s per case, 32 connections
#   DURATION=5s CONNECTIONS=8 bench/ingest_load.sh
#
# Needs: a release `pinpipe` (cargo build --release -p pinpipe-cli), wrk (apt-get install wrk),
# tansu (as .ci/run installs it), python3 with moto[server] and boto3.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${PINPIPE_SHARED_DIR:-../shared}"
PINPIPE="${PINPIPE:-${CARGO_TARGET_DIR:-target}/release/pinpipe}"
TANSU="${TANSU:-$(command -v tansu || echo "$HOME/.cache/pinpipe/tools/bin/tansu")}"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32}"
WORK="${WORK:-/tmp/pinpipe-bench/ingest}"
rm -rf "$WORK" && mkdir -p "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

KAFKA_PORT=$(free_port); MOTO_PORT=$(free_port); API_PORT=$(free_port)
"$TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 & pids+=($!)
python3 tests/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 & pids+=($!)
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
for _ in $(seq 100); do curl -s "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.1; done
for t in pin geo user; do "$TANSU" topic create --broker "tcp://127.0.0.1:$KAFKA_PORT" --partitions 3 "bench.$t" >/dev/null; done
python3 - <<'PY'
import boto3, os
k = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
for t in ("pin", "geo", "user"):
    k.create_stream(StreamName=f"streaming-bench-{t}", ShardCount=2)
PY
"$PINPIPE" serve --port "$API_PORT" --brokers "127.0.0.1:$KAFKA_PORT" --kafka-settings broker.address.family=v4 \
  2>"$WORK/serve.log" & pids+=($!)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$API_PORT/" >/dev/null && break; sleep 0.1; done

# request bodies: real pin rows as the emulator sends them, 1 and 64 per request
python3 - "$SHARED/data/source-rows/pin.jsonl" "$WORK" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    r["index"] = r.pop("index", r.get("ind"))
out = sys.argv[2]
for n in (1, 64):
    batch = rows[:n]
    open(f"{out}/topic-{n}.json", "w").write(json.dumps({"records": [{"value": r} for r in batch]}))
    open(f"{out}/stream-{n}.json", "w").write(json.dumps(
        {"records": [{"data": r, "partition-key": str(r["index"])} for r in batch]}))
PY
cat >"$WORK/post.lua" <<'LUA'
wrk.method = os.getenv("METHOD")
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE")
local f = io.open(os.getenv("BODY_FILE"), "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d %d\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

case_no=0
run() { # name records method path content-type body
  local name=$1 records=$2 out
  case_no=$((case_no + 1)); out="$WORK/case-$case_no.txt"
  METHOD=$3 CONTENT_TYPE=$5 BODY_FILE=$6 wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s "$WORK/post.lua" \
    "http://127.0.0.1:$API_PORT$4" >"$out"
  read -r _ req us p50 p99 max errors non2xx < <(grep '^RESULT' "$out")
  python3 -c "import sys; req,us,n=int(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]); rps=req/(us/1e6); print(f'| {sys.argv[4]} | {n} | {rps:,.0f} | {rps*n:,.0f} | {float(sys.argv[5]):.2f} | {float(sys.argv[6]):.2f} | {sys.argv[7]} / {sys.argv[8]} |')" \
    "$req" "$us" "$records" "$name" "$p50" "$p99" "$errors" "$non2xx"
}
echo
echo "wrk -t2 -c$CONNECTIONS -d$DURATION against pinpipe serve (${LABEL:-$(git rev-parse --short HEAD)}); tansu and moto on the same 2 cores"
echo
echo "| endpoint | records/request | requests/s | records/s | p50 ms | p99 ms | socket errors / non-2xx |"
echo "|---|---|---|---|---|---|---|"
run "POST /topics (Kafka REST → tansu)" 1 POST /topics/bench.pin application/vnd.kafka.json.v2+json "$WORK/topic-1.json"
run "POST /topics (Kafka REST → tansu)" 64 POST /topics/bench.pin application/vnd.kafka.json.v2+json "$WORK/topic-64.json"
run "PUT /streams/…/records (→ moto Kinesis)" 1 PUT /streams/streaming-bench-pin/records application/json "$WORK/stream-1.json"
run "PUT /streams/…/records (→ moto Kinesis)" 64 PUT /streams/streaming-bench-pin/records application/json "$WORK/stream-64.json"
run "refused: a topic that feeds no table (validation, 404, nothing produced)" 64 POST /topics/bench.nope application/vnd.kafka.json.v2+json "$WORK/topic-64.json"
