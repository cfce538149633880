"""Runs one statement through ADBC Flight SQL and prints its row count (used to hold a slow
query open from a process the test can kill).

Usage: run_query.py FLIGHT_ADDR SQL
"""
import sys

import adbc_driver_flightsql.dbapi as flightsql


def main() -> None:
    addr, sql = sys.argv[1], sys.argv[2]
    with flightsql.connect(f"grpc://{addr}") as conn, conn.cursor() as cur:
        cur.execute(sql)
        print(len(cur.fetchall()), flush=True)


if __name__ == "__main__":
    main()
