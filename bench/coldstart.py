#!/usr/bin/env python3
"""Cold start of a Lambda function binary: from process start to its first
`GET /2018-06-01/runtime/invocation/next`, against a tiny runtime-API stub on 127.0.0.1.

    bench/coldstart.py [--starts 20] BINARY [BINARY ...]

Each binary is started --starts times with AWS_LAMBDA_RUNTIME_API pointing at the stub and the
environment a deployed function has (a warehouse on a local path, dummy AWS settings); the stub
answers nothing to the first poll, records when it came and the process is killed. Prints a markdown
table: p50 / p90 / min in milliseconds, and each binary's size.
"""
import argparse
import http.server
import os
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

arrived = threading.Event()
arrival = [0.0]


class Stub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the runtime API's verb)
        if self.path.startswith("/2018-06-01/runtime/invocation/next") and not arrived.is_set():
            arrival[0] = time.perf_counter()
            arrived.set()
        # never answer: the function waits here, as it would for its first event
        time.sleep(5)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lake = tempfile.mkdtemp(prefix="coldstart-")
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="coldstart",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_EC2_METADATA_DISABLED="true",
        PINPIPE_WAREHOUSE=lake,
        PINPIPE_API_URL="http://127.0.0.1:9",
        PINPIPE_KAFKA_BROKERS="127.0.0.1:9",
        RUST_LOG="off",
    )
    print("| function | p50 ms | p90 ms | min ms | binary |")
    print("|---|---|---|---|---|")
    for binary in args.binaries:
        times = []
        for _ in range(args.starts):
            arrived.clear()
            start = time.perf_counter()
            process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not arrived.wait(30):
                process.kill()
                sys.exit(f"{binary} never polled the runtime API")
            times.append((arrival[0] - start) * 1000)
            process.kill()
            process.wait()
        times.sort()
        p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
        size = os.path.getsize(binary) / 1e6
        print(f"| {os.path.basename(binary)} | "
              f"{statistics.median(times):.1f} | {p90:.1f} | {times[0]:.1f} | {size:.1f} MB |")


if __name__ == "__main__":
    main()
