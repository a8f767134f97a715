"""An S3 endpoint that fails the way S3 does, in front of a real one (moto), for fault tests.

    python3 fault_proxy.py LISTEN_PORT UPSTREAM_URL SEED

Forwards every request to UPSTREAM_URL, except that, drawn per request from a generator seeded
with SEED:
  - 6% are answered `503 SlowDown` without reaching the upstream (S3's throttling answer);
  - 4% are held 0.2-1.5 s before they are forwarded (a slow call);
  - 4% of PUTs and POSTs are forwarded and the upstream's answer is dropped: the write landed, but
    the client sees its connection close (a lost answer).
A request whose body ends early (its client was killed mid-upload) is dropped, as S3 drops it.
Prints "ready" once listening; on SIGTERM it exits. Counts go to stderr when it exits.
"""
import http.server
import random
import signal
import sys
import threading
import time
import urllib.parse

from proxy import answer, forward

port, upstream, seed = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
rng_lock = threading.Lock()
counts = {"forwarded": 0, "throttled": 0, "slowed": 0, "answer_lost": 0}


def draw():
    with rng_lock:
        return rng.random(), rng.random()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if length and len(body) < length:
            # the client went away mid-upload (killed): S3 stores nothing of an incomplete body
            self.close_connection = True
            return
        fault, extra = draw()
        if fault < 0.06:
            counts["throttled"] += 1
            message = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            answer(self, 503, None, [("Content-Type", "application/xml")], message)
            return
        if fault < 0.10:
            counts["slowed"] += 1
            time.sleep(0.2 + 1.3 * extra)
        reply = forward(upstream, self, body)
        counts["forwarded"] += 1
        if self.command in ("PUT", "POST") and 0.10 <= fault < 0.14:
            counts["answer_lost"] += 1
            self.close_connection = True
            self.connection.close()
            return
        answer(self, *reply)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client killed mid-answer (the test kills processes with SIGKILL) is expected
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", port), Proxy)


def stop(*_):
    print(" ".join(f"{k}={v}" for k, v in counts.items()), file=sys.stderr, flush=True)
    threading.Thread(target=server.shutdown).start()


signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
server.serve_forever()
