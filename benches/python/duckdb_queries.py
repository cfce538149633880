#!/usr/bin/env python3
"""DuckDB side of flowfold-query-bench (issue 3): runs the benchmark queries over the same
Parquet files flowfold serves, driven by the harness one query at a time so that it can alternate
the two engines.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.

- First line (setup): {"files": GLOB, "threads": N, "queries": [{"name": ..., "sql": ...}, ...]}.
  The queries read table `flows`, a view over
  read_parquet(GLOB, hive_partitioning = false). Reply: {"ready": true, "version": ..., ...}.
- {"op": "run", "query": I}: runs query I; reply {"ms": wall ms of execute + fetchall, "rows": ...}
  with every cell a string: BLOBs (addresses) as lower-case hex, NULL as "NULL", numbers in
  decimal.
- {"op": "explain", "query": I}: reply {"text": EXPLAIN ANALYZE output}.
- {"op": "stats"}: reply {"peak_rss_bytes": ..., "ru_maxrss_bytes": ..., "cpu_s": ...} (this
  process). peak_rss_bytes is VmHWM from /proc/self/status, the same figure as the node's:
  getrusage's ru_maxrss survives exec, so right after a spawn it can report the parent's peak.
- {"op": "quit"}: the stats reply, then exit.

Any failure is replied as {"error": message}.
"""

import json
import platform
import resource
import sys
import time

import duckdb


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def vm_hwm_bytes():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def usage():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss is in KiB on Linux.
    maxrss = ru.ru_maxrss * 1024
    hwm = vm_hwm_bytes()
    return {
        "peak_rss_bytes": maxrss if hwm is None else hwm,
        "ru_maxrss_bytes": maxrss,
        "cpu_s": ru.ru_utime + ru.ru_stime,
    }


def cell(value):
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def handle(con, queries, request):
    op = request.get("op")
    if op == "run":
        sql = queries[request["query"]]["sql"]
        started = time.perf_counter()
        rows = con.execute(sql).fetchall()
        ms = (time.perf_counter() - started) * 1000.0
        return {"ms": ms, "rows": [[cell(v) for v in row] for row in rows]}
    if op == "explain":
        sql = queries[request["query"]]["sql"]
        rows = con.execute("EXPLAIN ANALYZE " + sql).fetchall()
        return {"text": "\n".join(str(row[-1]) for row in rows)}
    if op in ("stats", "quit"):
        return usage()
    return {"error": f"unknown op {op!r}"}


def main():
    setup = json.loads(sys.stdin.readline())
    con = duckdb.connect(database=":memory:")
    con.execute(f"SET threads TO {int(setup['threads'])}")
    files = setup["files"].replace("'", "''")
    con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)")
    queries = setup["queries"]
    threads, memory_limit = con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
    reply(
        {
            "ready": True,
            "version": duckdb.__version__,
            "python": platform.python_version(),
            "threads": threads,
            "memory_limit": memory_limit,
            **usage(),
        }
    )
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply(handle(con, queries, request))
        except Exception as e:  # reported to the harness, which fails loudly
            reply({"error": f"{type(e).__name__}: {e}"})
        if request.get("op") == "quit":
            return


if __name__ == "__main__":
    main()
