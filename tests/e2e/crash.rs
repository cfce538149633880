//! kill -9 during ingest, then restart: every stored file is readable, nothing the node had
//! written to its write-ahead log is lost, and the open windows are sealed on the next stop.

use std::process::{Command, Stdio};
use std::time::Duration;

use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;

use crate::{flowfold, stored_count};

#[test]
fn kill_9_during_ingest_loses_nothing_written() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let node = Standalone::start(flowfold(), &data, &[])?;
    let mut sender = Command::new(flowfold())
        .args([
            "gen",
            "--target",
            &node.flow_addr().to_string(),
            "--exporters",
            "3",
            "--flows",
            "400000",
        ])
        .args(["--rate", "40000", "--seed", "5", "--formats", "v9,ipfix,v5"])
        .env("FLOWFOLD_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    wait_for("some flows to be stored", Duration::from_secs(30), || {
        (node.metric_sum("flowfold_flows_stored_total", &[]).ok()? >= 30_000.0).then_some(())
    })?;
    let stored_before = node.metric_sum("flowfold_flows_stored_total", &[])? as u64;
    let decoded_before = node.metric_sum("flowfold_flows_decoded_total", &[])? as u64;
    node.kill9()?;
    let _ = sender.kill();
    let _ = sender.wait();

    // Restart on the same data: the open windows are recovered from their logs.
    let node = Standalone::start(flowfold(), &data, &[])?;
    let recovered = stored_count(&node)?;
    assert!(
        recovered >= stored_before,
        "lost flows the node had stored: {recovered} < {stored_before}"
    );
    // What was decoded but not yet written waits at most one flush interval (250 ms) per batch.
    assert!(
        recovered + 40_000 >= decoded_before,
        "lost more than a second of flows: recovered {recovered}, decoded {decoded_before}"
    );
    node.stop()?;

    let leftover: Vec<_> = walk(&data.join("flows"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e != "parquet" && e != "rollup"))
        .collect();
    assert!(
        leftover.is_empty(),
        "after a clean stop only Parquet and rollups remain: {leftover:?}"
    );
    let after = flowfold_tests::node::sql(flowfold(), &data, "SELECT count(*) AS n FROM flows")?;
    assert_eq!(after[0]["n"].as_u64(), Some(recovered), "sealing changed the count");
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
