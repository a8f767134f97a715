#!/usr/bin/env python3
"""The nine insights as the daily function sends them to Athena (engine v3, Trino), checked offline.

    trino.py WAREHOUSE RUN_DATE SQL_DIR

SQL_DIR holds one `<insight>.sql` per query: the text `pinpipe::insight::athena_sql` builds. Each is
  1. parsed with sqlglot's Trino dialect (a parse error fails the run);
  2. checked to call only functions Trino has: sqlglot reads a name it does not know as an anonymous
     call and quietly rewrites some it knows (percentile_cont becomes approx_percentile), so the
     check is a list, TRINO_FUNCTIONS, of the functions these queries may call, each in Trino's docs;
  3. translated to DuckDB and run over the batch tables (tables/batch/*, read with delta-rs's Python
     reader) under their Glue names, batch_pin, batch_geo and batch_user.
Prints one JSON object per row, as insights.py does: {"insight": name, "row": {...}} with the
run_date of the argument. A query that fails a check ends the run with status 2 and names it.
"""
import json
import os
import sys

import duckdb
import sqlglot
from deltalake import DeltaTable
from sqlglot import exp

# sqlglot's expression class → the Trino function it stands for (trino.io/docs/current/functions)
TRINO_FUNCTIONS = {
    "Avg": "avg",  # aggregate.html
    "Case": "CASE",  # conditional.html
    "Cast": "CAST",  # conversion.html
    "Count": "count",  # aggregate.html
    "Extract": "extract",  # datetime.html
    "If": "if",  # conditional.html (sqlglot's form of a one-branch CASE)
    "Max": "max",  # aggregate.html
    "Min": "min",  # aggregate.html
    "RowNumber": "row_number",  # window.html
    "Sum": "sum",  # aggregate.html
}


def parse(sql):
    """The query parsed as Trino; ValueError naming what Trino would refuse."""
    try:
        tree = sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.ParseError as e:
        raise ValueError(f"not Trino SQL: {e}") from e
    for call in tree.find_all(exp.Func):
        if isinstance(call, (exp.Binary, exp.Connector)):
            continue  # AND, OR: operators sqlglot models as functions
        if type(call).__name__ not in TRINO_FUNCTIONS:
            called = call.name if isinstance(call, exp.Anonymous) else call.sql_name()
            raise ValueError(f"calls {called}, which is not a Trino function these queries may use")
    return tree


def check(name, sql):
    """The query parsed as Trino, or exit 2 naming the query and what Trino would refuse."""
    try:
        return parse(sql)
    except ValueError as e:
        print(f"{name}: {e}", file=sys.stderr)
        sys.exit(2)


def main():
    warehouse, run_date, sql_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    queries = {}
    for file in sorted(os.listdir(sql_dir)):
        name = file.removesuffix(".sql")
        with open(os.path.join(sql_dir, file)) as f:
            queries[name] = check(name, f.read())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in ("pin", "geo", "user"):
        con.register(f"arrow_{table}", DeltaTable(f"{warehouse}/tables/batch/{table}").to_pyarrow_table())
        con.execute(f"CREATE TABLE batch_{table} AS SELECT * FROM arrow_{table}")
    for name, tree in queries.items():
        cur = con.execute(tree.sql(dialect="duckdb"))
        columns = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(columns, values))
            row["run_date"] = run_date
            print(json.dumps({"insight": name, "row": row}, sort_keys=True))


if __name__ == "__main__":
    main()
