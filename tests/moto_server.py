"""moto's server with S3's conditional writes and Kinesis's shard writes made atomic, as on AWS.

    python3 moto_server.py -H 127.0.0.1 -p PORT      (the same arguments as `moto_server`)

moto 5.2 checks `If-None-Match: *` and then stores the object as two separate steps, with no lock
between them, in a threaded server: under CPU load two racing PUTs of the same Delta commit file can
both "win" (seen once in CI: two writers each committed version 245, one commit overwritten). Delta
on S3 relies on that check-and-put being atomic, and real S3 guarantees it, so this launcher runs
every object PUT and multipart completion under one lock before starting moto's own `main`.

moto 5.2's Kinesis shard gives a record the shard's highest sequence number plus one and stores it
under that number, again with no lock ("not safe for concurrency", says its source): two PutRecords
racing on one shard can take the same number, and the second record replaces the first, although
both were acknowledged (seen in CI: 6,056 of 6,057 acknowledged stream records readable; the
harness test `concurrent_puts_to_one_shard_keep_every_acknowledged_record` loses ~1,100 of 32,000
without the lock). Real Kinesis never loses an acknowledged record, so every shard write — and every
shard read, which iterates the same dictionary — runs under a lock.
"""
import sys
import threading

from moto.kinesis.models import Shard
from moto.s3.responses import S3Response
from moto.server import main


def _atomic(method, lock):
    def locked(self, *args, **kwargs):
        with lock:
            return method(self, *args, **kwargs)

    return locked


_S3_WRITE = threading.Lock()
S3Response.put_object = _atomic(S3Response.put_object, _S3_WRITE)
S3Response._key_response_post = _atomic(S3Response._key_response_post, _S3_WRITE)

_SHARD = threading.Lock()
Shard.put_record = _atomic(Shard.put_record, _SHARD)
Shard.get_records = _atomic(Shard.get_records, _SHARD)

if __name__ == "__main__":
    main(sys.argv[1:])
