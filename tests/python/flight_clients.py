"""Checks flowfold's Flight SQL service with clients we did not write, against DuckDB.

Usage: flight_clients.py FLIGHT_ADDR DATA_DIR
The node at FLIGHT_ADDR serves the flows stored in DATA_DIR, all sealed. Every query runs
through ADBC (adbc-driver-flightsql) and through plain pyarrow.flight, and must equal DuckDB's
answer over the same Parquet files. Also checks prepared statements with parameters, catalog
listings, SqlInfo, address metadata, and that bad or writing SQL fails with a clear message.
Prints one JSON object with what it checked; exits 1 with the differences if any.
"""
import json
import sys

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow.flight as flight

# (name, flowfold SQL, DuckDB SQL); `T` is the table. Every result is fully ordered.
QUERIES = [
    ("totals", "SELECT count(*) AS n, sum(packets) AS p, sum(bytes) AS b FROM T", None),
    (
        "top_src_by_bytes",
        "SELECT src_addr, sum(bytes) AS b FROM T GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 10",
        None,
    ),
    (
        "top_dst_ports_by_flows",
        "SELECT dst_port, count(*) AS n FROM T GROUP BY dst_port ORDER BY n DESC, dst_port NULLS LAST LIMIT 10",
        None,
    ),
    (
        "tcp_443_top_src",
        "SELECT src_addr, count(*) AS n, sum(bytes) AS b FROM T WHERE protocol = 6 AND dst_port = 443 "
        "GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 10",
        None,
    ),
    ("per_exporter", "SELECT exporter, count(*) AS n, sum(bytes) AS b FROM T GROUP BY exporter ORDER BY exporter", None),
    (
        "per_minute",
        "SELECT CAST(date_bin(INTERVAL '1 minute', flow_start) AS BIGINT) / 1000000 AS m, count(*) AS n "
        "FROM T GROUP BY 1 ORDER BY 1",
        "SELECT epoch_ms(time_bucket(INTERVAL '1 minute', flow_start)) AS m, count(*) AS n FROM T GROUP BY 1 ORDER BY 1",
    ),
    (
        "v6_and_nulls",
        "SELECT count(*) AS n, count(src_as) AS with_as, count(DISTINCT protocol) AS protos FROM T "
        "WHERE ip_version(src_addr) = 6",
        "SELECT count(*) AS n, count(src_as) AS with_as, count(DISTINCT protocol) AS protos FROM T "
        "WHERE hex(src_addr) NOT LIKE '00000000000000000000FFFF%'",
    ),
]

# Statements a read-only service must refuse, and a word its message must contain.
REFUSED = [
    ("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp'", "read-only"),
    ("COPY (SELECT 1) TO '/tmp/flowfold-copy.parquet'", "read-only"),
    ("INSERT INTO flows SELECT * FROM flows LIMIT 1", "read-only"),
    ("CREATE VIEW v AS SELECT 1", "read-only"),
    ("SET datafusion.execution.batch_size = 1", "read-only"),
    ("SELECT * FROM '/etc/passwd'", "passwd"),
    ("SELECT * FROM no_such_table", "no_such_table"),
    ("SELEC 1", "SELEC"),
]


def rows(table) -> list:
    """Rows of an Arrow table as tuples (bytes stay bytes, so addresses compare exactly)."""
    cols = [c.to_pylist() for c in table.columns]
    return [tuple(c[i] for c in cols) for i in range(table.num_rows)]


def varint(n: int) -> bytes:
    """A protobuf varint."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(data)) + data


def any_message(type_name: str, payload: bytes) -> bytes:
    """A protobuf `google.protobuf.Any` holding a Flight SQL command, encoded by hand."""
    url = f"type.googleapis.com/arrow.flight.protocol.sql.{type_name}".encode()
    return field(1, url) + field(2, payload)


def pyarrow_query(client: flight.FlightClient, sql: str):
    """Runs `sql` with plain pyarrow.flight: GetFlightInfo(CommandStatementQuery), DoGet."""
    command = any_message("CommandStatementQuery", field(1, sql.encode()))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    tables = [client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints]
    return info.schema, tables[0] if len(tables) == 1 else tables


def main() -> None:
    addr, data_dir = sys.argv[1], sys.argv[2]
    duck = duckdb.connect()
    duck.execute(
        f"CREATE VIEW T AS SELECT * FROM read_parquet('{data_dir}/flows/**/*.parquet', hive_partitioning = false)"
    )
    problems, checked = [], {}
    conn = flightsql.connect(f"grpc://{addr}")
    raw = flight.FlightClient(f"grpc://{addr}")

    for name, ours, theirs in QUERIES:
        expected = duck.execute(theirs or ours).fetchall()
        with conn.cursor() as cur:
            cur.execute(ours.replace("FROM T", "FROM flows"))
            via_adbc = rows(cur.fetch_arrow_table())
        _, table = pyarrow_query(raw, ours.replace("FROM T", "FROM flows"))
        via_pyarrow = rows(table)
        if via_adbc != expected:
            problems.append({"query": name, "client": "adbc", "got": repr(via_adbc[:5]), "duckdb": repr(expected[:5])})
        if via_pyarrow != expected:
            problems.append({"query": name, "client": "pyarrow", "got": repr(via_pyarrow[:5]), "duckdb": repr(expected[:5])})
        checked[name] = len(expected)

    # Address columns keep their metadata through Flight, so clients can show them as text.
    schema, _ = pyarrow_query(raw, "SELECT src_addr, ip(ip_text(dst_addr)) AS d FROM flows LIMIT 1")
    for field_name in ("src_addr", "d"):
        meta = schema.field(field_name).metadata or {}
        if meta.get(b"flowfold.type") != b"ip":
            problems.append({"metadata": field_name, "got": repr(meta)})

    # A prepared statement with a parameter (ADBC prepares and binds it).
    (port_count,) = duck.execute("SELECT count(*) FROM T WHERE dst_port = 443").fetchone()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM flows WHERE dst_port = $1", parameters=(443,))
        (got,) = cur.fetchone()
        cur.execute("SELECT count(*) FROM flows WHERE dst_port = $1", parameters=(53,))
        (got_dns,) = cur.fetchone()
    (dns_count,) = duck.execute("SELECT count(*) FROM T WHERE dst_port = 53").fetchone()
    if (got, got_dns) != (port_count, dns_count):
        problems.append({"prepared": [got, got_dns], "duckdb": [port_count, dns_count]})
    checked["prepared"] = [got, got_dns]

    # Catalog listings and SqlInfo.
    objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    tables = {
        (cat["catalog_name"], sch["db_schema_name"], t["table_name"])
        for cat in objects
        for sch in cat["catalog_db_schemas"] or []
        for t in sch["db_schema_tables"] or []
    }
    exporters = duck.execute("SELECT count(DISTINCT exporter) FROM T").fetchone()[0]
    channel_tables = [t for t in tables if t[:2] == ("flowfold", "live") and t[2].startswith("exporter_")]
    if ("flowfold", "live", "flows") not in tables or len(channel_tables) != exporters:
        problems.append({"get_objects": sorted(tables), "exporters": exporters})
    checked["tables"] = len(tables)
    info = conn.adbc_get_info()
    if info.get("vendor_name") != "flowfold":
        problems.append({"get_info": {k: str(v) for k, v in info.items()}})
    checked["vendor"] = info.get("vendor_name")

    # Each channel table holds exactly one exporter's flows, and together they hold them all.
    total = duck.execute("SELECT count(*) FROM T").fetchone()[0]
    in_channels = 0
    with conn.cursor() as cur:
        for _, _, table_name in sorted(channel_tables):
            cur.execute(f"SELECT count(*), count(DISTINCT exporter) FROM {table_name}")
            n, distinct = cur.fetchone()
            in_channels += n
            if distinct != 1:
                problems.append({"channel": table_name, "exporters": distinct})
    if in_channels != total:
        problems.append({"channel rows": in_channels, "total": total})

    # Refused and bad statements fail with a message that names the cause.
    for sql, word in REFUSED:
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                cur.fetchall()
            problems.append({"not refused": sql})
        except Exception as e:  # the driver's error type varies by version
            if word.lower() not in str(e).lower():
                problems.append({"refused without the cause": sql, "message": str(e)[:300]})
    checked["refused"] = len(REFUSED)

    print(json.dumps({"checked": checked, "problems": problems}, default=str))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
