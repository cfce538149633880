//! The Flight SQL service of a real node: clients we did not write (ADBC, pyarrow.flight) get
//! DuckDB's answers over the same Parquet files; `flowfold sql --connect` equals `--data`; fresh
//! flows are queryable within a second; limits (time, concurrency, memory) give clear errors and
//! a client that goes away stops its query.

use std::time::{Duration, Instant};

use flowfold_tests::node::Standalone;
use flowfold_tests::peers::{python, python_spawn};
use flowfold_tests::wait_for;

use crate::{flowfold, generate};

fn remote_count(node: &Standalone, sql: &str) -> Option<u64> {
    node.sql_remote(sql)
        .ok()?
        .first()?
        .as_object()?
        .values()
        .next()?
        .as_u64()
}

fn feed(node: &Standalone, flows: u64, exporters: &str, formats: &str) -> anyhow::Result<()> {
    let summary = generate(&[
        "--target",
        &node.flow_addr().to_string(),
        "--exporters",
        exporters,
        "--flows",
        &flows.to_string(),
        "--rate",
        "100000",
        "--seed",
        "11",
        "--formats",
        formats,
    ])?;
    anyhow::ensure!(summary["flows"].as_u64() == Some(flows), "generator summary: {summary}");
    Ok(())
}

#[test]
fn adbc_and_pyarrow_get_duckdb_answers() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let node = Standalone::start(flowfold(), &data, &[])?;
    let flows = 50_000u64;
    feed(&node, flows, "4", "v5,v9,ipfix")?;
    wait_for("every flow to be queryable", Duration::from_secs(30), || {
        (remote_count(&node, "SELECT count(*) AS n FROM flows")? == flows).then_some(())
    })?;
    node.stop()?;

    // Every window is sealed now; a new node serves the same files DuckDB reads.
    let node = Standalone::start(flowfold(), &data, &[])?;
    let out = python(
        "flight_clients.py",
        &[&node.ready.query.to_string(), data.to_str().expect("utf-8 path")],
    )?;
    let report: serde_json::Value = serde_json::from_str(out.trim())?;
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(report["checked"]["totals"], 1, "{report}");

    // The CLI gives the same answer through Flight SQL as over the files, addresses as text.
    let sql = "SELECT ip_text(src_addr) AS src, src_addr, sum(bytes) AS b FROM flows \
               GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 5";
    let remote = node.sql_command(&["--connect", &node.ready.query.to_string()], "csv", sql)?;
    let local = node.sql_command(&["--data", data.to_str().expect("utf-8 path")], "csv", sql)?;
    assert!(remote.status.success(), "{}", String::from_utf8_lossy(&remote.stderr));
    assert_eq!(
        String::from_utf8(remote.stdout.clone())?,
        String::from_utf8(local.stdout)?
    );
    let text = String::from_utf8(remote.stdout)?;
    let first = text.lines().nth(1).expect("a result row");
    let mut cols = first.split(',');
    let (src, addr) = (cols.next(), cols.next());
    assert_eq!(src, addr, "address column shown as text: {first}");

    // A server error reaches the CLI as a non-zero exit with the server's message.
    let bad = node.sql_command(
        &["--connect", &node.ready.query.to_string()],
        "csv",
        "SELECT nope FROM flows",
    )?;
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(message.contains("nope"), "{message}");
    node.stop()
}

#[test]
fn a_flow_is_queryable_within_a_second() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let node = Standalone::start(flowfold(), &tmp.path().join("data"), &[])?;
    feed(&node, 200, "1", "ipfix")?;
    let sent = Instant::now();
    wait_for("the flows to be queryable", Duration::from_secs(10), || {
        (remote_count(&node, "SELECT count(*) AS n FROM flows")? == 200).then_some(())
    })?;
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "queryable {took:?} after the last datagram"
    );
    node.stop()
}

#[test]
fn limits_refuse_time_out_and_cancel_with_clear_errors() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let node = Standalone::start(
        flowfold(),
        &tmp.path().join("data"),
        &[
            "--max-queries",
            "1",
            "--query-queue-wait",
            "300ms",
            "--query-timeout",
            "3s",
        ],
    )?;
    let addr = node.ready.query.to_string();
    let slow = "SELECT count(*) FROM generate_series(1, 100000000000) AS t(v) WHERE v % 7 = 3";

    // A client holds the only slot, then goes away: its query stops, its slot is free.
    let mut client = python_spawn("run_query.py", &[&addr, slow])?;
    wait_for("the slow query to run", Duration::from_secs(20), || {
        (node.metric_sum("flowfold_queries_running", &[]).ok()? == 1.0).then_some(())
    })?;
    let busy = node.sql_command(&["--connect", &addr], "csv", "SELECT 1")?;
    assert!(!busy.status.success());
    let message = String::from_utf8_lossy(&busy.stderr);
    assert!(message.contains("too many queries"), "{message}");
    client.kill()?;
    client.wait()?;
    wait_for("the query to be cancelled", Duration::from_secs(10), || {
        let cancelled = node.metric_sum("flowfold_queries_cancelled_total", &[]).ok()?;
        let running = node.metric_sum("flowfold_queries_running", &[]).ok()?;
        (cancelled == 1.0 && running == 0.0).then_some(())
    })?;
    let before = node.cpu_time()?;
    std::thread::sleep(Duration::from_secs(1));
    let spent = node.cpu_time()? - before;
    assert!(
        spent < Duration::from_millis(300),
        "the node kept working after the cancel: {spent:?}"
    );

    // The time limit ends a query with an error saying so.
    let started = Instant::now();
    let late = node.sql_command(&["--connect", &addr], "csv", slow)?;
    assert!(!late.status.success());
    let message = String::from_utf8_lossy(&late.stderr);
    assert!(message.contains("ran longer than the 3s limit"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "timed out late: {:?}",
        started.elapsed()
    );
    assert_eq!(
        node.metric_sum("flowfold_queries_failed_total", &["kind=\"timeout\""])?,
        1.0
    );
    node.stop()
}

#[test]
fn the_memory_pool_spills_big_group_bys_and_refuses_clearly() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let node = Standalone::start(
        flowfold(),
        &tmp.path().join("data"),
        &["--query-memory", "48M", "--query-threads", "2"],
    )?;
    // 3M groups do not fit 48 MB: the aggregation spills to DATA/spill and still answers right,
    // and the node's memory grows by a bounded multiple of the pool (measured: +95 MB with the
    // 48 MB pool, +188 MB with a 2 GB pool; the pool accounts for the aggregation's batches and
    // hash tables, not for every allocation).
    let before = node.peak_rss()?;
    let groups = "SELECT count(*) AS n, sum(c) AS rows FROM \
                  (SELECT v % 3000000 AS k, count(*) AS c FROM generate_series(1, 6000000) AS t(v) GROUP BY k)";
    let rows = node.sql_remote(groups)?;
    assert_eq!(rows[0]["n"], 3_000_000, "{rows:?}");
    assert_eq!(rows[0]["rows"], 6_000_000, "{rows:?}");
    let growth = node.peak_rss()?.saturating_sub(before);
    assert!(
        growth < (3 * 48) << 20,
        "peak RSS grew by {} MB with a 48 MB pool",
        growth >> 20
    );
    // An operator that cannot spill (a hash join's build side) fails with "resources exhausted",
    // and the node lives on.
    let hoard =
        "SELECT count(*) FROM generate_series(1, 5000000) AS a(x) JOIN generate_series(1, 5000000) AS b(y) ON x = y";
    let out = node.sql_command(&["--connect", &node.ready.query.to_string()], "csv", hoard)?;
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.to_lowercase().contains("resources exhausted"), "{message}");
    assert_eq!(remote_count(&node, "SELECT count(*) AS n FROM flows"), Some(0));
    node.stop()
}
