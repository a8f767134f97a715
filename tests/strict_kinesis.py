"""A Kinesis endpoint as strict as AWS where moto is kinder, in front of moto, for the ingest tests.

    python3 strict_kinesis.py LISTEN_PORT UPSTREAM_URL ALLOWED_STREAM_ARNS

ALLOWED_STREAM_ARNS (comma-separated) are the streams the caller's role may write (the IAM
statement's resources). For PutRecord and PutRecords (JSON 1.1, `X-Amz-Target:
Kinesis_20131202.PutRecord[s]`) it answers, as AWS does and moto does not:
  - 400 AccessDeniedException when the stream (StreamName, or StreamARN) is not one of them; moto
    would write it, or answer ResourceNotFoundException;
  - 400 ValidationException for more than 500 records, a partition key outside 1 to 256 characters,
    or a record whose data plus partition key exceed 1 MiB ("PutRecords", Kinesis API reference);
  - 400 InvalidArgumentException for a PutRecords whose data plus partition keys exceed 5 MiB.
Everything else is forwarded to UPSTREAM_URL unchanged. Prints "ready" once listening; on SIGTERM it
exits.
"""
import base64
import http.server
import json
import signal
import sys
import urllib.parse

from proxy import answer, forward

port, upstream = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2])
allowed = set(a for a in sys.argv[3].split(",") if a)
REGION, ACCOUNT = "us-east-1", "123456789012"
MIB = 1024 * 1024


def stream_arn(request):
    if request.get("StreamARN"):
        return request["StreamARN"]
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{request.get('StreamName', '')}"


def refusal(action, request):
    """AWS's answer to a request it refuses, or None."""
    arn = stream_arn(request)
    if arn not in allowed:
        return "AccessDeniedException", (
            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ingest-api-role/ingest-api is not authorized "
            f"to perform: kinesis:{action} on resource: {arn} because no identity-based policy "
            f"allows the kinesis:{action} action"
        )
    records = request.get("Records") if action == "PutRecords" else [request]
    if not isinstance(records, list) or not 1 <= len(records) <= 500:
        return "ValidationException", (
            "1 validation error detected: Value at 'records' failed to satisfy constraint: "
            "Member must have length less than or equal to 500"
        )
    total = 0
    for i, record in enumerate(records):
        key = record.get("PartitionKey") or ""
        try:
            data = base64.b64decode(record.get("Data") or "", validate=True)
        except ValueError:
            return "ValidationException", f"records.{i}.member.data is not base64"
        if not 1 <= len(key) <= 256:
            return "ValidationException", (
                f"1 validation error detected: Value at 'records.{i + 1}.member.partitionKey' "
                "failed to satisfy constraint: Member must have length between 1 and 256"
            )
        size = len(data) + len(key.encode())
        if size > MIB:
            return "ValidationException", (
                f"1 validation error detected: Value at 'records.{i + 1}.member.data' failed to "
                f"satisfy constraint: Member must have length less than or equal to {MIB} "
                f"(data and partition key are {size} bytes)"
            )
        total += size
    if total > 5 * MIB:
        return "InvalidArgumentException", (
            f"Records size exceeds 5 MB limit: data and partition keys are {total} bytes"
        )
    return None


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target") or ""
        action = target.rsplit(".", 1)[-1]
        if action in ("PutRecord", "PutRecords"):
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = None
            refused = refusal(action, request) if isinstance(request, dict) else None
            if refused:
                code, message = refused
                message = json.dumps({"__type": code, "message": message}).encode()
                headers = [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-RequestId", "strict-kinesis"),
                ]
                answer(self, 400, None, headers, message)
                return
        answer(self, *forward(upstream, self, body, timeout=60))

def stop(*_):
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
print("ready", flush=True)
server.serve_forever()
