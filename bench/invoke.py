#!/usr/bin/env python3
"""Per-invocation cost of a consumer function's release binary: N events of R records each, handed
to the real binary by a tiny Lambda runtime-API stub on 127.0.0.1, the way Lambda hands them over.

    bench/invoke.py kinesis|msk BINARY --data DIR [--records 10000] [--invocations 31]
                    [--s3-endpoint URL --bucket NAME]

Events are built from DIR/pin.jsonl (the kit's make_dataset.py output), R consecutive lines each:
a KinesisEvent on stream streaming-bench-pin (shard 0, increasing sequence numbers) for
kinesis-consumer (→ cleaned rows committed to tables/stream/pin, exactly once), or a KafkaEvent on
topic bench.pin (partition 0, increasing offsets) for msk-consumer (→ raw objects landed). Every
event holds new records. Time per invocation: from the stub starting to send the event (the answer to
`GET /runtime/invocation/next`) to the function's `POST /runtime/invocation/{id}/response`; the
answer must report no batch item failure. The first invocation is the cold one (the table is opened,
the re-post index built); p50 and p99 are over the rest. Peak RSS is the process's VmHWM after the
last invocation (what Lambda reports as Max Memory Used). The lake is a temporary local directory, or
s3://NAME/lake on the given S3 endpoint (e.g. `moto_server -p 5555`; the bucket is created). Prints
one markdown table row.
"""
import argparse
import base64
import http.server
import json
import os
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

state = {"events": [], "next": 0, "sent": {}, "done": {}, "errors": [], "answers": {}}
lock = threading.Lock()
finished = threading.Event()


def kinesis_event(lines, first_seq):
    records = []
    for i, line in enumerate(lines):
        seq = str(49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000 + first_seq + i)
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": str(first_seq + i), "sequenceNumber": seq,
                        "data": base64.b64encode(line).decode(), "approximateArrivalTimestamp": 1795780800.123},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000000:{seq}",
            "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/streaming-bench-pin"})
    return json.dumps({"Records": records}).encode()


def msk_event(lines, first_offset):
    records = [{"topic": "bench.pin", "partition": 0, "offset": first_offset + i, "timestamp": 1795780800123,
                "timestampType": "CREATE_TIME", "key": None, "headers": [],
                "value": base64.b64encode(line).decode()} for i, line in enumerate(lines)]
    return json.dumps({"eventSource": "aws:kafka",
                       "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/bench/0000-1",
                       "bootstrapServers": "127.0.0.1:9092", "records": {"bench.pin-0": records}}).encode()


class Stub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (the runtime API's verb)
        if not self.path.startswith("/2018-06-01/runtime/invocation/next"):
            self.send_error(404)
            return
        with lock:
            i = state["next"]
            state["next"] += 1
        if i >= len(state["events"]):
            finished.set()
            time.sleep(3600)  # no more events: the function waits here, as on Lambda
            return
        body = state["events"][i]
        state["sent"][str(i)] = time.perf_counter()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(i))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        now = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("/")
        request_id = parts[4] if len(parts) > 5 else "init"
        if self.path.endswith("/response"):
            state["done"][request_id] = now
            state["answers"][request_id] = body
        else:
            state["errors"].append((self.path, body.decode(errors="replace")))
            finished.set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def check_committed(function, lake, lines):
    """What the invocations left on the local path: every distinct post as a row of the stream table
    (kinesis-consumer), or every record in the raw zone (msk-consumer)."""
    import glob
    if function == "kinesis":
        want = len({json.loads(line)["index"] for line in lines})
        got = 0
        for path in glob.glob(os.path.join(lake, "tables/stream/pin/_delta_log/*.json")):
            for action in map(json.loads, open(path)):
                if "add" in action:
                    got += json.loads(action["add"]["stats"])["numRecords"]
        what = "rows in tables/stream/pin"
    else:
        want = len(lines)
        got = sum(open(p, "rb").read().count(b"\n") for p in glob.glob(os.path.join(lake, "topics/bench.pin/*/*.json")))
        what = "records in the raw zone"
    if got != want:
        sys.exit(f"{got} {what}, expected {want}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("function", choices=("kinesis", "msk"))
    ap.add_argument("binary")
    ap.add_argument("--data", required=True)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--invocations", type=int, default=31)
    ap.add_argument("--s3-endpoint")
    ap.add_argument("--bucket")
    a = ap.parse_args()

    need = a.records * a.invocations
    lines = []
    with open(os.path.join(a.data, "pin.jsonl"), "rb") as f:
        for line in f:
            if line.strip():
                lines.append(line.rstrip(b"\n"))
            if len(lines) == need:
                break
    if len(lines) < need:
        sys.exit(f"{a.data}/pin.jsonl has {len(lines)} records; {need} needed")
    make = kinesis_event if a.function == "kinesis" else msk_event
    state["events"] = [make(lines[i * a.records:(i + 1) * a.records], i * a.records) for i in range(a.invocations)]
    event_mb = statistics.mean(len(e) for e in state["events"]) / 1e6

    server = Server(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="invoke-")
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME=f"bench-{a.function}", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true",
        RUST_LOG="warn",
        PINPIPE_WAREHOUSE=os.path.join(tmp, "lake"),
    )
    backend = "local path"
    if a.s3_endpoint:
        import boto3
        s3 = boto3.client("s3", endpoint_url=a.s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        try:
            s3.create_bucket(Bucket=a.bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        env.update(AWS_ENDPOINT_URL=a.s3_endpoint, AWS_ALLOW_HTTP="true", PINPIPE_WAREHOUSE=f"s3://{a.bucket}/lake")
        backend = "moto S3"
    log = open(os.path.join(tmp, "function.log"), "wb")
    process = subprocess.Popen([a.binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not finished.wait(900) or state["errors"]:
            sys.exit(f"the function failed: {state['errors'] or 'no answer in 900 s'}; log: {log.name}")
        peak = vm_hwm_mib(process.pid)
    finally:
        process.kill()
        process.wait()
    for request_id, body in state["answers"].items():
        answer = json.loads(body or b"null")
        if isinstance(answer, dict) and answer.get("batchItemFailures"):
            sys.exit(f"invocation {request_id} reported failures: {answer['batchItemFailures'][:3]}")
    if not a.s3_endpoint:
        check_committed(a.function, os.path.join(tmp, "lake"), lines)
    times = [(state["done"][str(i)] - state["sent"][str(i)]) * 1000 for i in range(a.invocations)]
    cold, warm = times[0], sorted(times[1:])
    p99 = warm[min(len(warm) - 1, round(0.99 * (len(warm) - 1)))]
    name = "kinesis-consumer" if a.function == "kinesis" else "msk-consumer"
    print(f"| `{name}`, {backend} | {a.records:,} records ({event_mb:.1f} MB event) × {a.invocations} "
          f"| {cold:.0f} | {statistics.median(warm):.0f} | {p99:.0f} | {peak:.0f} MiB |")


if __name__ == "__main__":
    main()
