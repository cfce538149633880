"""Per-exporter totals of flowfold's Parquet layout and of a ground-truth file, read by DuckDB.

Usage: parquet_totals.py DATA_DIR [TRUTH.parquet]
Prints one JSON object: {"stored": {exporter: [flows, packets, bytes]}, "truth": {...},
"files": N}. The stored side is read with Hive partitioning, so `exporter` comes from the
directory name (text), which is how any Parquet reader sees our layout.
"""
import ipaddress
import json
import sys

import duckdb


def exporter_text(raw: bytes) -> str:
    ip = ipaddress.IPv6Address(raw)
    return str(ip.ipv4_mapped) if ip.ipv4_mapped else str(ip)


def main() -> None:
    data_dir = sys.argv[1]
    con = duckdb.connect()
    glob = f"{data_dir}/flows/**/*.parquet"
    files = con.execute(f"select count(*) from glob('{glob}')").fetchone()[0]
    stored = {}
    if files:
        rows = con.execute(
            f"""select exporter, count(*), sum(packets), sum(bytes)
                from read_parquet('{glob}', hive_partitioning = true)
                group by exporter"""
        ).fetchall()
        stored = {e.replace("_", ":"): [int(f), int(p or 0), int(b or 0)] for e, f, p, b in rows}
    result = {"stored": stored, "files": files}
    if len(sys.argv) > 2:
        rows = con.execute(
            f"select exporter, count(*), sum(packets), sum(bytes) from read_parquet('{sys.argv[2]}') group by exporter"
        ).fetchall()
        result["truth"] = {exporter_text(e): [int(f), int(p or 0), int(b or 0)] for e, f, p, b in rows}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
