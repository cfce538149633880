//! End-to-end tests: the real `flowfold` binary on free loopback ports, fed by software we did
//! not write (softflowd) and by our generator, checked against nfcapd/nfdump and DuckDB.

mod control;
mod crash;
mod demo;
mod distributed;
mod flight_sql;
mod flow_sources;
mod generator_truth;
mod malformed;
mod masters;
mod nfdump_filters;
mod profiles;
mod proxied_group;
mod proxy_distribution;
mod proxy_edge_cases;
mod proxy_round_robin;
mod retention;
mod softflowd;
mod time_pruning;
mod top;
mod topology_admin;

use std::path::Path;

/// The `flowfold` binary Cargo built for these tests.
pub fn flowfold() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_flowfold"))
}

/// Fails with a clear message when a peer is not installed (`scripts/test` installs them).
pub fn require(program: &str) {
    assert!(
        flowfold_tests::have(program),
        "{program} is not installed: run scripts/test, which installs it"
    );
}

/// Runs `flowfold gen` with `args`, returning its JSON summary.
pub fn generate(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = std::process::Command::new(flowfold())
        .arg("gen")
        .args(args)
        .env("FLOWFOLD_LOG", "warn")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "flowfold gen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("{}");
    Ok(serde_json::from_str(line)?)
}

/// Per-exporter `[flows, packets, bytes]` as `flowfold sql` reports them.
pub fn stored_totals(
    node: &flowfold_tests::node::Standalone,
) -> anyhow::Result<std::collections::BTreeMap<String, [u64; 3]>> {
    let rows = node.sql(
        "SELECT exporter, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows GROUP BY exporter",
    )?;
    let mut totals = std::collections::BTreeMap::new();
    for row in rows {
        let exporter = row["exporter"].as_str().unwrap_or_default().to_string();
        let get = |k: &str| row[k].as_u64().unwrap_or(0);
        totals.insert(exporter, [get("flows"), get("packets"), get("bytes")]);
    }
    Ok(totals)
}

/// Total flows stored, by `flowfold sql`.
pub fn stored_count(node: &flowfold_tests::node::Standalone) -> anyhow::Result<u64> {
    let rows = node.sql("SELECT count(*) AS n FROM flows")?;
    Ok(rows.first().and_then(|r| r["n"].as_u64()).unwrap_or(0))
}
