#!/usr/bin/env python3
"""The nine insights of spec §5, computed independently of pinpipe's Rust and its SQL files.

    insights.py WAREHOUSE RUN_DATE

Reads the cleaned batch tables (tables/batch/{pin,geo,user}) with delta-rs's Python reader, computes
the insights with DuckDB SQL written here from the spec, and prints one JSON object per row:
{"insight": name, "row": {...}} with the run_date of the argument. The integration tests compare
these rows with the insight tables pinpipe's daily run wrote.
"""
import json
import sys

import duckdb
from deltalake import DeltaTable

AGE_GROUP = """CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
                    WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
                    WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
                    WHEN u.age > 50 THEN '50+' END"""

INSIGHTS = {
    # per country, the categories with the most posts
    "popular_category_by_country": """
        WITH c AS (SELECT country, category, count(*) AS category_count FROM pg GROUP BY ALL)
        SELECT * FROM c
        WHERE category_count = (SELECT max(category_count) FROM c c2
                                WHERE c2.country IS NOT DISTINCT FROM c.country)""",
    "posts_per_category_by_year": """
        SELECT CAST(year("timestamp") AS INTEGER) AS post_year, category, count(*) AS category_count
        FROM pg WHERE year("timestamp") BETWEEN 2018 AND 2022 GROUP BY ALL""",
    "top_user_by_country": """
        SELECT DISTINCT country, poster_name, follower_count FROM pg p
        WHERE follower_count = (SELECT max(follower_count) FROM pg p2
                                WHERE p2.country IS NOT DISTINCT FROM p.country)""",
    "top_user_overall": """
        WITH t AS (SELECT DISTINCT country, poster_name, follower_count FROM pg p
                   WHERE follower_count = (SELECT max(follower_count) FROM pg p2
                                           WHERE p2.country IS NOT DISTINCT FROM p.country))
        SELECT * FROM t WHERE follower_count = (SELECT max(follower_count) FROM t)""",
    "popular_category_by_age_group": """
        WITH c AS (SELECT age_group, category, count(*) AS category_count FROM pu
                   WHERE age_group IS NOT NULL GROUP BY ALL)
        SELECT * FROM c WHERE category_count = (SELECT max(category_count) FROM c c2
                                                WHERE c2.age_group = c.age_group)""",
    "median_followers_by_age_group": """
        SELECT age_group, quantile_cont(follower_count, 0.5)::DOUBLE AS median_follower_count
        FROM pu WHERE age_group IS NOT NULL GROUP BY ALL""",
    "users_joined_by_year": """
        SELECT CAST(year(date_joined) AS INTEGER) AS join_year, count(DISTINCT ind) AS number_users_joined
        FROM u WHERE year(date_joined) BETWEEN 2015 AND 2020 GROUP BY ALL""",
    "median_followers_by_join_year": """
        SELECT join_year, quantile_cont(follower_count, 0.5)::DOUBLE AS median_follower_count
        FROM pu WHERE join_year BETWEEN 2015 AND 2020 GROUP BY ALL""",
    "median_followers_by_age_group_and_join_year": """
        SELECT age_group, join_year, quantile_cont(follower_count, 0.5)::DOUBLE AS median_follower_count
        FROM pu WHERE age_group IS NOT NULL AND join_year BETWEEN 2015 AND 2020 GROUP BY ALL""",
}


def main():
    warehouse, run_date = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in ("pin", "geo", "user"):
        arrow = DeltaTable(f"{warehouse}/tables/batch/{name}").to_pyarrow_table()
        con.register(f"raw_{name}", arrow)
    con.execute("CREATE TABLE p AS SELECT * FROM raw_pin")
    con.execute("CREATE TABLE g AS SELECT * FROM raw_geo")
    con.execute("CREATE TABLE u AS SELECT * FROM raw_user")
    con.execute("""CREATE TABLE pg AS SELECT g.country, g."timestamp", p.category, p.poster_name,
                   p.follower_count FROM p JOIN g ON p.ind = g.ind""")
    con.execute(f"""CREATE TABLE pu AS SELECT p.category, p.follower_count, {AGE_GROUP} AS age_group,
                    CAST(year(u.date_joined) AS INTEGER) AS join_year FROM p JOIN u ON p.ind = u.ind""")
    for name, sql in INSIGHTS.items():
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description]
        for values in cur.fetchall():
            row = dict(zip(columns, values))
            row["run_date"] = run_date
            print(json.dumps({"insight": name, "row": row}, sort_keys=True))


if __name__ == "__main__":
    main()
