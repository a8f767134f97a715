"""moto's server with S3's conditional writes made atomic, as they are on real S3.

    python3 moto_server.py -H 127.0.0.1 -p PORT      (the same arguments as `moto_server`)

moto 5.2 checks `If-None-Match: *` and then stores the object as two separate steps, with no lock
between them, in a threaded server: under CPU load two racing PUTs of the same Delta commit file can
both "win" (seen once in CI: two writers each committed version 245, one commit overwritten). Delta
on S3 relies on that check-and-put being atomic, and real S3 guarantees it, so this launcher runs
every object PUT and multipart completion under one lock before starting moto's own `main`.
"""
import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_WRITE = threading.Lock()


def _atomic(method):
    def locked(self, *args, **kwargs):
        with _WRITE:
            return method(self, *args, **kwargs)

    return locked


S3Response.put_object = _atomic(S3Response.put_object)
S3Response._key_response_post = _atomic(S3Response._key_response_post)

if __name__ == "__main__":
    main(sys.argv[1:])
