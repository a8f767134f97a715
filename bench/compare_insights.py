#!/usr/bin/env python3
"""pinpipe's insight tables for a run date vs DuckDB's insight JSON lines (../shared/bench), row for row.

    compare_insights.py LAKE DUCKDB_OUT RUN_DATE
"""
import json, sys, glob, os, math
from deltalake import DeltaTable
lake, ddb, date = sys.argv[1], sys.argv[2], sys.argv[3]
bad = 0
for path in sorted(glob.glob(f"{ddb}/insights/*.jsonl")):
    name = os.path.basename(path)[:-6]
    theirs = [json.loads(l) for l in open(path)]
    ours = DeltaTable(f"{lake}/tables/analytics/{name}").to_pyarrow_table().to_pylist()
    ours = [r for r in ours if str(r["run_date"]) == date]
    def canon(r):
        out = {}
        for k, v in r.items():
            if k == "run_date": continue
            if isinstance(v, float): v = round(v, 6)
            out[k] = v
        return json.dumps(out, sort_keys=True, default=str)
    a, b = sorted(map(canon, ours)), sorted(map(canon, theirs))
    print(name, len(a), len(b), "EQUAL" if a == b else "DIFFERENT")
    bad += a != b
sys.stdout.flush()
os._exit(1 if bad else 0)  # (delta-rs's Python teardown can abort after a clean run)
