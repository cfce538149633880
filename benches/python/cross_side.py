"""How much one side's run slows the other side's next run when both share one machine.

    python3 benches/python/cross_side.py MASTER:PORT STANDALONE:PORT [ROUNDS]

Over the distributed benchmark's data (a hand-started cluster and standalone node, see
benches/README.md): the window query timed on each side right after the other side's TCP/443
query, and again after one more untimed run of its own, plus back to back. Medians.
"""
import statistics
import sys
import time
import warnings

import adbc_driver_flightsql.dbapi as flight_sql

warnings.filterwarnings('ignore')

WINDOW = ("SELECT dst_addr, sum(bytes) AS b FROM flows WHERE flow_start >= TIMESTAMPTZ '2026-01-01 00:30:00+00:00' "
          "AND flow_start < TIMESTAMPTZ '2026-01-01 00:40:00+00:00' GROUP BY dst_addr ORDER BY b DESC, dst_addr LIMIT 10")
TCP443 = ("SELECT src_addr, sum(bytes) AS b FROM flows WHERE protocol = 6 AND dst_port = 443 "
          "GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 10")


def run(conn, sql):
    cur = conn.cursor()
    started = time.perf_counter()
    cur.execute(sql)
    cur.fetchall()
    elapsed = time.perf_counter() - started
    cur.close()
    return elapsed * 1000


def main(master_addr, standalone_addr, rounds):
    master = flight_sql.connect(f"grpc://{master_addr}")
    single = flight_sql.connect(f"grpc://{standalone_addr}")
    sides = {'distributed': (master, single), 'standalone': (single, master)}
    for conn in (master, single):
        for _ in range(3):
            run(conn, WINDOW)
            run(conn, TCP443)
    times = {}
    for _ in range(rounds):
        for name, (own, other) in sides.items():
            run(other, TCP443)
            times.setdefault(f"{name} right after the other side's TCP/443", []).append(run(own, WINDOW))
            run(other, TCP443)
            run(own, WINDOW)
            times.setdefault(f"{name} after one more run of its own", []).append(run(own, WINDOW))
            run(own, WINDOW)
            times.setdefault(f"{name} back to back", []).append(run(own, WINDOW))
    for label, values in times.items():
        print(f"{label:55s} {statistics.median(values):6.1f} ms")


if __name__ == '__main__':
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 15)
