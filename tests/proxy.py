"""What the Python stand-ins of `tests/` share (fault_proxy.py, strict_kinesis.py, strict_s3.py):
forwarding a request to the real server behind them and answering with what it said.
"""
import http.client

# hop-by-hop headers: a proxy never forwards them
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


def forward(upstream, handler, body, timeout=120):
    """The request `handler` holds (its body already read) sent to `upstream` (a urlsplit):
    (status, reason, headers, data)."""
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP}
    connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=timeout)
    try:
        connection.request(handler.command, handler.path, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.reason, reply.getheaders(), reply.read()
    finally:
        connection.close()


def answer(handler, status, reason, headers, data):
    """Answers `handler`'s request (no body for a HEAD), with its own Content-Length."""
    handler.send_response(status, reason)
    for key, value in headers:
        if key.lower() not in HOP and key.lower() != "content-length":
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
