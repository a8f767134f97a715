"""A stub of the Athena API (JSON 1.1, `X-Amz-Target: AmazonAthena.<Operation>`) for the daily
function's Athena path, answering as Athena does for the four calls it makes, and computing real
results: each query is checked as Trino and run on DuckDB (golden/trino.py) over the warehouse's
batch tables, read afresh with delta-rs's Python reader.

    python3 athena_stub.py LISTEN_PORT WAREHOUSE CALL_LOG SETTINGS_JSON

SETTINGS_JSON: {"workgroup": W, "database": D, "catalog": C,          what a request must name
                "throttle_first_start": bool,                      the first StartQueryExecution
                                                                   gets 400 TooManyRequestsException
                "fail_once": [insight, ...],                       its first query ends FAILED,
                                                                   AthenaError.Retryable true
                "hang": [insight, ...],                            its queries stay RUNNING until
                                                                   StopQueryExecution
                "page_rows": N}                                    rows per GetQueryResults page
The insight a query computes is read from its ClientRequestToken (pinpipe-<insight>-…).

As Athena: a token seen before returns the same query (no second run); a request naming another
workgroup, database or catalog, a token outside 32..128 characters, a QueryString outside 1..262,144
bytes or a MaxResults outside 1..1000 gets 400 InvalidRequestException; a query goes QUEUED, RUNNING, then SUCCEEDED or FAILED on successive
GetQueryExecution calls; a query Trino would refuse ends FAILED (not retryable); GetQueryResults
before SUCCEEDED is 400 InvalidRequestException; its first page's first row holds the column names;
doubles are printed as Java prints them (1.0E7); NULL has no VarCharValue.
Every call is appended to CALL_LOG as a JSON line {"op", "request", "status", "response"}. Prints "ready" once
listening; on SIGTERM it exits.
"""
import decimal
import http.server
import json
import os
import signal
import sys
import threading
import uuid

import duckdb
from deltalake import DeltaTable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
import trino  # noqa: E402  (golden/trino.py: the Trino check)

port, warehouse, call_log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = json.loads(sys.argv[4])
lock = threading.Lock()
queries = {}  # id -> {"insight", "token", "sql", "polls", "fate", "columns", "rows", "error"}
tokens = {}  # ClientRequestToken -> id
failed_once = set()
throttled = []

ATHENA_TYPES = {"BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double", "VARCHAR": "varchar",
                "DATE": "date", "BOOLEAN": "boolean"}


def java_double(x):
    """A double as Java's Double.toString prints it (what Athena's VarCharValue holds)."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        text = repr(x)
        return text if "." in text or "e" in text else text + ".0"
    sign, digits, exponent = decimal.Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, digits))
    power = len(digits) - 1 + exponent
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{power}"


def text(value, athena_type):
    if value is None:
        return {}
    if athena_type == "double":
        return {"VarCharValue": java_double(float(value))}
    if athena_type == "boolean":
        return {"VarCharValue": "true" if value else "false"}
    return {"VarCharValue": str(value)}


def execute(query):
    """Runs the query now (it is reported QUEUED and RUNNING first all the same)."""
    try:
        tree = trino.parse(query["sql"])
    except ValueError as e:
        query["error"] = {"ErrorCategory": 2, "ErrorType": 1001, "Retryable": False,
                          "ErrorMessage": f"SYNTAX_ERROR: {e}"}
        return
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in ("pin", "geo", "user"):
        arrow = DeltaTable(f"{warehouse}/tables/batch/{table}").to_pyarrow_table()
        con.register(f"arrow_{table}", arrow)
        con.execute(f"CREATE TABLE batch_{table} AS SELECT * FROM arrow_{table}")
    cur = con.execute(tree.sql(dialect="duckdb"))
    columns = [(d[0], ATHENA_TYPES.get(str(d[1]).upper(), str(d[1]).lower())) for d in cur.description]
    query["columns"] = columns
    query["rows"] = [[text(v, t) for v, (_, t) in zip(row, columns)] for row in cur.fetchall()]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, error_type=None):
        self.response = body
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def refuse(self, error_type, message):
        return self.answer(400, {"__type": error_type, "Message": message}, error_type)

    def do_POST(self):
        op = self.headers.get("X-Amz-Target", "").removeprefix("AmazonAthena.")
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with lock:
            status = self.dispatch(op, request)
            with open(call_log, "a") as log:
                log.write(json.dumps({"op": op, "request": request, "status": status,
                                      "response": self.response}) + "\n")

    def dispatch(self, op, request):
        if op == "StartQueryExecution":
            return self.start(request)
        query = queries.get(request.get("QueryExecutionId"))
        if op in ("GetQueryExecution", "GetQueryResults", "StopQueryExecution") and query is None:
            return self.refuse("InvalidRequestException", "QueryExecution not found")
        if op == "GetQueryExecution":
            return self.answer(200, {"QueryExecution": self.execution(query)})
        if op == "StopQueryExecution":
            if query["state"] in ("QUEUED", "RUNNING"):
                query["state"] = "CANCELLED"
            return self.answer(200, {})
        if op == "GetQueryResults":
            if query["state"] != "SUCCEEDED":
                return self.refuse("InvalidRequestException",
                                   f"Query has not yet finished. Current state: {query['state']}")
            return self.results(query, request)
        return self.refuse("UnknownOperationException", f"unknown operation {op!r}")

    def start(self, request):
        if settings.get("throttle_first_start") and not throttled:
            throttled.append(request.get("ClientRequestToken"))
            return self.refuse("TooManyRequestsException", "Rate exceeded")
        context = request.get("QueryExecutionContext", {})
        for given, wanted, what in ((request.get("WorkGroup"), settings["workgroup"], "WorkGroup"),
                                    (context.get("Database"), settings["database"], "Database"),
                                    (context.get("Catalog"), settings["catalog"], "Catalog")):
            if given != wanted:
                return self.refuse("InvalidRequestException", f"{what} {given!r} is not {wanted!r}")
        if not 1 <= len(request.get("QueryString", "").encode()) <= 262144:
            return self.refuse("InvalidRequestException", "QueryString must be 1 to 262144 bytes")
        token = request.get("ClientRequestToken", "")
        if not 32 <= len(token) <= 128:
            return self.refuse("InvalidRequestException", "ClientRequestToken must be 32 to 128 characters")
        if token in tokens:
            return self.answer(200, {"QueryExecutionId": tokens[token]})
        insight = token.split("-")[1] if token.count("-") >= 2 else ""
        query = {"insight": insight, "sql": request.get("QueryString", ""), "polls": 0,
                 "state": "QUEUED", "error": None, "columns": [], "rows": []}
        if insight in settings.get("fail_once", []) and insight not in failed_once:
            failed_once.add(insight)
            query["error"] = {"ErrorCategory": 1, "ErrorType": 401, "Retryable": True,
                              "ErrorMessage": "GENERIC_INTERNAL_ERROR: the stub fails this once"}
        elif insight not in settings.get("hang", []):
            execute(query)
        query_id = str(uuid.uuid4())
        queries[query_id], tokens[token] = query, query_id
        return self.answer(200, {"QueryExecutionId": query_id})

    def execution(self, query):
        query["polls"] += 1
        if query["state"] not in ("CANCELLED",) and query["insight"] not in settings.get("hang", []):
            if query["polls"] >= 3:
                query["state"] = "FAILED" if query["error"] else "SUCCEEDED"
            elif query["polls"] == 2:
                query["state"] = "RUNNING"
        elif query["state"] == "QUEUED" and query["polls"] >= 2:
            query["state"] = "RUNNING"
        status = {"State": query["state"]}
        if query["state"] == "FAILED":
            status["StateChangeReason"] = query["error"]["ErrorMessage"]
            status["AthenaError"] = query["error"]
        return {"Query": query["sql"], "Status": status, "WorkGroup": settings["workgroup"]}

    def results(self, query, request):
        asked = int(request.get("MaxResults", 1000))
        if not 1 <= asked <= 1000:
            return self.refuse("InvalidRequestException", "MaxResults must be 1 to 1000")
        page = min(asked, int(settings.get("page_rows", 1000)))
        header = [{"Data": [{"VarCharValue": name} for name, _ in query["columns"]]}]
        rows = header + [{"Data": row} for row in query["rows"]]
        start = int(request.get("NextToken") or 0)
        body = {"ResultSet": {"Rows": rows[start:start + page],
                              "ResultSetMetadata": {"ColumnInfo": [
                                  {"CatalogName": "hive", "Name": name, "Label": name, "Type": t}
                                  for name, t in query["columns"]]}},
                "UpdateCount": 0}
        if start + page < len(rows):
            body["NextToken"] = str(start + page)
        return self.answer(200, body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
print("ready", flush=True)
server.serve_forever()
