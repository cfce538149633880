//! Time pruning of slaves on a master, across real processes: two source groups of one
//! standalone slave each, `a` holding flows of yesterday noon and `b` of two days before; a
//! reference node holds both. A query bounded to one of the two periods is planned on the slave
//! holding it alone, and answers as the reference does. Flows that reach `b` in `a`'s period
//! after the master last asked for `b`'s coverage, from a new exporter, are found at once, by
//! time and by exporter (the master asks again before it leaves a slave out).

use flowfold_tests::master::{GroupSpec, Master, topology_toml};
use flowfold_tests::node::Standalone;

use crate::distributed::{check, distributed_plan, wait_stored};
use crate::{flowfold, generate};

const FLOWS: u64 = 3_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Sends `FLOWS` flows of one exporter (`source`) ending from `end_ms` on to each of `targets`.
fn feed(targets: &[&Standalone], seed: &str, source: &str, end_ms: i64) -> anyhow::Result<()> {
    for node in targets {
        let summary = generate(&[
            "--target",
            &node.flow_addr().to_string(),
            "--flows",
            &FLOWS.to_string(),
            "--rate",
            "60000",
            "--seed",
            seed,
            "--exporters",
            "1",
            "--source-base",
            source,
            "--v6-share",
            "0.2",
            "--start-time",
            &end_ms.to_string(),
        ])?;
        anyhow::ensure!(summary["flows"].as_u64() == Some(FLOWS), "gen sent {summary}");
    }
    Ok(())
}

/// `SELECT ... WHERE flow_start` within `[first, last)` (ms).
fn in_range(select: &str, first: i64, last: i64, rest: &str) -> String {
    format!(
        "{select} FROM flows WHERE flow_start >= to_timestamp_millis({first}) AND flow_start < to_timestamp_millis({last}){rest}"
    )
}

#[test]
fn a_time_bounded_query_reads_only_the_slaves_holding_its_range() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let a = Standalone::start_slave(bin, &dir.path().join("a"), "a", "127.0.0.51")?;
    let b = Standalone::start_slave(bin, &dir.path().join("b"), "b", "127.0.0.52")?;
    let reference = Standalone::start(bin, &dir.path().join("reference"), &[])?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    // Whole days apart: the coverage a master keeps counts whole days.
    let today = now - now.rem_euclid(DAY_MS);
    let a_time = today - DAY_MS + 12 * HOUR_MS;
    let b_time = today - 3 * DAY_MS + 12 * HOUR_MS;
    feed(&[&a, &reference], "21", "127.0.2.1", a_time)?;
    feed(&[&b, &reference], "22", "127.0.2.2", b_time)?;
    wait_stored(&a, FLOWS)?;
    wait_stored(&b, FLOWS)?;
    wait_stored(&reference, 2 * FLOWS)?;

    let one = |name, slave| {
        vec![GroupSpec {
            name,
            priority: 1,
            proxy: None,
            slaves: vec![(name, slave)],
        }]
    };
    let cluster = topology_toml(&[("site-a", one("a", &a)), ("site-b", one("b", &b))]);
    let master = Master::start(bin, dir.path(), "127.0.0.50", &cluster)?;

    let (a_first, a_last) = (a_time - 2 * HOUR_MS, a_time + 2 * HOUR_MS);
    let (b_first, b_last) = (b_time - 2 * HOUR_MS, b_time + 2 * HOUR_MS);
    let per_protocol = |first, last| {
        in_range(
            "SELECT protocol, count(*) AS n, sum(bytes) AS b",
            first,
            last,
            " GROUP BY protocol ORDER BY protocol",
        )
    };
    let top_sources = |first, last| {
        in_range(
            "SELECT ip_text(src_addr) AS s, sum(bytes) AS b",
            first,
            last,
            " GROUP BY src_addr ORDER BY b DESC, s LIMIT 10",
        )
    };
    for (first, last, kept, left_out) in [(a_first, a_last, "a", "b"), (b_first, b_last, "b", "a")] {
        for query in [per_protocol(first, last), top_sources(first, last)] {
            let plan = distributed_plan(&master, &query)?;
            anyhow::ensure!(plan.contains(&format!("slaves=[{kept}]")), "{query}\n{plan}");
            anyhow::ensure!(!plan.contains(&format!("slaves=[{left_out}]")), "{query}\n{plan}");
            check(&master, &reference, &query)?;
        }
    }
    // Each of those 8 plannings left one slave out by time, after asking it again.
    let left_out = master.metric_sum("flowfold_query_slaves_left_out_total", &["by=\"time\""])?;
    let asked = master.metric_sum("flowfold_query_slaves_asked_total", &["by=\"time\""])?;
    anyhow::ensure!(
        left_out >= 8.0 && asked >= left_out,
        "left out {left_out}, asked {asked}"
    );
    // Both periods: both slaves.
    let both = per_protocol(b_first, a_last);
    let plan = distributed_plan(&master, &both)?;
    anyhow::ensure!(plan.contains("slaves=[a]") && plan.contains("slaves=[b]"), "{plan}");
    check(&master, &reference, &both)?;
    // Nothing anywhere: one slave is kept for the plan's sake; the count is 0 as on one node.
    let nothing = in_range("SELECT count(*) AS n", a_last + 10 * HOUR_MS, a_last + 11 * HOUR_MS, "");
    let counted = master.sql(&nothing)?;
    anyhow::ensure!(counted[0]["n"] == 0, "{counted:?}");

    // New flows on b in a's period, right away: the master's last answer from b says b has
    // nothing there, so it asks b again before leaving it out, and finds them.
    feed(&[&b, &reference], "23", "127.0.2.3", a_time)?;
    wait_stored(&b, 2 * FLOWS)?;
    wait_stored(&reference, 3 * FLOWS)?;
    let query = per_protocol(a_first, a_last);
    check(&master, &reference, &query)?;
    let plan = distributed_plan(&master, &query)?;
    anyhow::ensure!(plan.contains("slaves=[a]") && plan.contains("slaves=[b]"), "{plan}");

    // Those flows came from a new exporter. Named in a query, it is found on b (whose last
    // listing may lack it, so b is asked again) and a is left out (asked again too).
    let query = "SELECT protocol, count(*) AS n FROM flows WHERE exporter = ip('127.0.2.3') GROUP BY protocol ORDER BY protocol";
    check(&master, &reference, query)?;
    let plan = distributed_plan(&master, query)?;
    anyhow::ensure!(plan.contains("slaves=[b]") && !plan.contains("slaves=[a]"), "{plan}");
    let by_exporter = master.metric_sum("flowfold_query_slaves_left_out_total", &["by=\"exporter\""])?;
    anyhow::ensure!(by_exporter >= 2.0, "left out by exporter: {by_exporter}");
    Ok(())
}
