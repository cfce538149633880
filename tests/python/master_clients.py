"""Checks a flowfold master with Flight SQL clients we did not write.

Usage: master_clients.py MASTER_ADDR EXPECTED_JSON
EXPECTED_JSON holds the reference node's answers: {"count": N, "per_protocol": [[proto, n], ...]}.
Through ADBC (adbc-driver-flightsql): a statement, a prepared statement with a parameter, and
the catalog listing. Through pyarrow.flight: a statement whose streamed schema carries the
master's `flowfold.served_by` metadata. Also asks for a partial answer with the request header.
Prints one JSON object with what it saw; exits 1 with the differences if any.
"""
import json
import sys

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow.flight as flight

from flight_clients import any_message, field


def main():
    addr, expected = sys.argv[1], json.loads(sys.argv[2])
    problems = []
    seen = {}
    with flightsql.connect(f"grpc://{addr}") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM flows")
        seen["count"] = cur.fetchone()[0]
        cur.execute("SELECT protocol, count(*) AS n FROM flows WHERE protocol <> $1 GROUP BY protocol ORDER BY protocol",
                    parameters=(255,))
        seen["per_protocol"] = [list(r) for r in cur.fetchall()]
        seen["tables"] = sorted(
            t["table_name"]
            for c in conn.adbc_get_objects(depth="tables").read_all().to_pylist()
            for s in c["catalog_db_schemas"]
            for t in s["db_schema_tables"]
        )
    if seen["count"] != expected["count"]:
        problems.append(f"ADBC count {seen['count']} != {expected['count']}")
    if seen["per_protocol"] != expected["per_protocol"]:
        problems.append(f"ADBC per_protocol {seen['per_protocol']} != {expected['per_protocol']}")
    if "flows" not in seen["tables"]:
        problems.append(f"no flows table in {seen['tables']}")

    client = flight.FlightClient(f"grpc://{addr}")
    command = any_message("CommandStatementQuery", field(1, b"SELECT count(*) AS n FROM flows"))
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    options = flight.FlightCallOptions(headers=[(b"x-flowfold-partial-results", b"true")])
    table = client.do_get(info.endpoints[0].ticket, options).read_all()
    metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    seen["served_by"] = metadata.get("flowfold.served_by")
    if not seen["served_by"]:
        problems.append(f"no flowfold.served_by in the streamed schema metadata {metadata}")
    if table.column(0)[0].as_py() != expected["count"]:
        problems.append(f"pyarrow count {table.column(0)[0].as_py()} != {expected['count']}")
    print(json.dumps(seen))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
