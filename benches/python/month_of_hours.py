"""A month of retention from the distributed benchmark's hour of data, by hard links.

    python3 benches/python/month_of_hours.py SRC_DATA_DIR OUT_DATA_DIR

SRC_DATA_DIR is the standalone node's data directory the distributed benchmark writes
(`<work-dir>/data`, one hour of flows from 2026-01-01 00:00 UTC). Each of the 720 hour directories
of the 30 days up to that hour gets that hour's files as hard links, renamed: stems and rollup
spans shifted by whole hours. The original hour is kept as is, so a query within 2026-01-01
00:00-01:00 has the same answer as on SRC_DATA_DIR, and every other hour is there to be listed.
"""
import datetime as dt
import os
import sys

HOUR_MS = 3_600_000


def main(src_data, out_data):
    src = os.path.join(src_data, 'flows')
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    links = 0
    for exporter in sorted(os.listdir(src)):
        hour0 = os.path.join(src, exporter, 'date=2026-01-01', 'hour=00')
        files = sorted(f for f in os.listdir(hour0) if '.' in f)
        for k in range(30 * 24):
            t = base - dt.timedelta(hours=k)
            out = os.path.join(out_data, 'flows', exporter, t.strftime('date=%Y-%m-%d'), t.strftime('hour=%H'))
            os.makedirs(out, exist_ok=True)
            for name in files:
                stem, rest = name.split('.', 1)
                new_stem = t.strftime('%Y%m%dT%H') + stem[11:]
                if rest.endswith('.rollup'):
                    kind, first, last, ext = rest.split('.')
                    rest = f"{kind}.{int(first) - k * HOUR_MS}.{int(last) - k * HOUR_MS}.{ext}"
                os.link(os.path.join(hour0, name), os.path.join(out, f"{new_stem}.{rest}"))
                links += 1
    print(f"{links} files linked under {out_data}")


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
