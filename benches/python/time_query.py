"""Median time of a query through Flight SQL (ADBC), and its first row.

    python3 benches/python/time_query.py HOST:PORT RUNS "SQL"
"""
import statistics
import sys
import time
import warnings

import adbc_driver_flightsql.dbapi as flight_sql

warnings.filterwarnings('ignore')


def main(addr, runs, sql):
    conn = flight_sql.connect(f"grpc://{addr}")
    times, rows = [], []
    for i in range(runs + 1):
        cur = conn.cursor()
        started = time.perf_counter()
        cur.execute(sql)
        rows = cur.fetchall()
        elapsed = time.perf_counter() - started
        cur.close()
        if i > 0:
            times.append(elapsed * 1000)
    print(f"{addr}: median {statistics.median(times):.1f} ms of {runs}; first row {rows[:1]}")


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
