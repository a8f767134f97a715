"""An independent reader of pinpipe's Delta tables: the `deltalake` package (delta-rs's Python
binding, from PyPI), not our code.

    python3 read_delta.py TABLE_URI [ENDPOINT]

Prints the table's protocol and its rows as JSON lines sorted by `ind` (timestamps as ISO text).
"""
import json
import os
import sys

from deltalake import DeltaTable

uri = sys.argv[1]
options = {}
if len(sys.argv) > 2:
    options = {
        "AWS_ENDPOINT_URL": sys.argv[2], "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
    }
table = DeltaTable(uri, storage_options=options)
protocol = table.protocol()
print(json.dumps({"min_reader_version": protocol.min_reader_version,
                  "min_writer_version": protocol.min_writer_version}))
rows = table.to_pyarrow_table().to_pylist()
rows.sort(key=lambda r: (r.get("ind") is None, r.get("ind"), r.get("rejected_at") and r["rejected_at"].isoformat()))
for row in rows:
    print(json.dumps(row, default=lambda v: v.isoformat(), ensure_ascii=False))
sys.stdout.flush()
# Skip interpreter teardown: delta-rs's runtime threads can abort the process there ("terminate
# called without an active exception") after all the work is done and printed.
os._exit(0)
