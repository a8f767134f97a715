"""S3 as a function's role sees it: a proxy in front of a real S3-compatible server (moto) that
answers every request the role's policy does not allow with S3's 403 AccessDenied, as S3 does, and
forwards the rest. moto authorises nothing; this double holds the code to the template's IAM.

    python3 strict_s3.py LISTEN_PORT UPSTREAM_URL POLICY_JSON_FILE LOG_FILE

POLICY_JSON_FILE: a list of {"actions": [...], "resources": [...]} (the role's Allow statements,
resolved; `*` and `?` wildcards as IAM matches them). Requests use path-style addressing
(/bucket/key). Each request's IAM action(s) and ARN(s) go to LOG_FILE as a JSON line with
"allowed" true or false. Prints "ready" once listening; stops on SIGTERM.

Actions, as S3 authorises them: GET/HEAD of an object s3:GetObject; GET/HEAD of the bucket
(listing) s3:ListBucket; PUT of an object s3:PutObject (with x-amz-copy-source also s3:GetObject on
the source); a multipart upload's create/part/complete s3:PutObject, its abort
s3:AbortMultipartUpload; DELETE of an object s3:DeleteObject; POST ?delete s3:DeleteObject on every
key of the body.
"""
import http.server
import json
import re
import signal
import sys
import threading
import urllib.parse

from proxy import answer, forward

port, upstream = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2])
with open(sys.argv[3]) as f:
    policy = json.load(f)
log = open(sys.argv[4], "a", buffering=1)
log_lock = threading.Lock()


def matches(pattern, arn):
    # IAM: `*` any run of characters (slashes too), `?` one; nothing else is special
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn, re.S) is not None


def allowed(action, arn):
    return any(
        action in statement["actions"] and any(matches(r, arn) for r in statement["resources"])
        for statement in policy
    )


def needs(method, path, query, headers, body):
    """The (action, ARN) pairs S3 checks for a request."""
    parts = urllib.parse.unquote(path).lstrip("/").split("/", 1)
    bucket, key = parts[0], (parts[1] if len(parts) > 1 else "")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "POST" and "delete" in query:
            keys = re.findall(rb"<Key>(.*?)</Key>", body or b"")
            return [("s3:DeleteObject", f"{bucket_arn}/{k.decode()}") for k in keys]
        if method in ("GET", "HEAD"):
            return [("s3:ListBucket", bucket_arn)]
        return [("s3:" + {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, method), bucket_arn)]
    object_arn = f"{bucket_arn}/{key}"
    if method in ("GET", "HEAD"):
        return [("s3:GetObject", object_arn)]
    if method == "DELETE":
        if "uploadId" in query:
            return [("s3:AbortMultipartUpload", object_arn)]
        return [("s3:DeleteObject", object_arn)]
    if method in ("PUT", "POST"):
        out = [("s3:PutObject", object_arn)]
        source = headers.get("x-amz-copy-source")
        if source:
            out.append(("s3:GetObject", "arn:aws:s3:::" + urllib.parse.unquote(source).lstrip("/")))
        return out
    return [("s3:" + method, object_arn)]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        checks = needs(self.command, split.path, query, headers, body)
        refused = [(a, r) for a, r in checks if not allowed(a, r)]
        with log_lock:
            for action, arn in checks:
                ok = (action, arn) not in refused
                log.write(json.dumps({"action": action, "arn": arn, "allowed": ok}) + "\n")
        if refused:
            action, arn = refused[0]
            message = (
                f"<Error><Code>AccessDenied</Code><Message>User is not authorized to perform: "
                f"{action} on resource: \"{arn}\" because no identity-based policy allows the "
                f"{action} action</Message></Error>"
            ).encode()
            answer(self, 403, "Forbidden", [("Content-Type", "application/xml")], message)
            return
        answer(self, *forward(upstream, self, body))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", port), Proxy)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("ready", flush=True)
server.serve_forever()
