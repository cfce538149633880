//! The generator's export (v5, v9 and IPFIX from 4 exporters) stored by flowfold and read back
//! by DuckDB through the Hive layout equals the generator's ground truth, per exporter.

use std::time::Duration;

use flowfold_tests::node::Standalone;
use flowfold_tests::peers::python;
use flowfold_tests::wait_for;

use crate::{flowfold, generate, stored_count};

#[test]
fn duckdb_reads_our_layout_and_it_equals_the_ground_truth() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let truth = tmp.path().join("truth.parquet");
    let node = Standalone::start(flowfold(), &data, &[])?;
    let flows = 60_000u64;
    let summary = generate(&[
        "--target",
        &node.flow_addr().to_string(),
        "--exporters",
        "4",
        "--flows",
        &flows.to_string(),
        "--rate",
        "60000",
        "--seed",
        "7",
        "--formats",
        "v5,v9,ipfix",
        "--truth",
        truth.to_str().expect("utf-8 path"),
    ])?;
    assert_eq!(summary["flows"].as_u64(), Some(flows), "generator summary: {summary}");
    wait_for("every flow to be stored", Duration::from_secs(30), || {
        (stored_count(&node).ok()? == flows).then_some(())
    })?;
    node.stop()?;

    let report: serde_json::Value = serde_json::from_str(&python(
        "parquet_totals.py",
        &[data.to_str().expect("utf-8 path"), truth.to_str().expect("utf-8 path")],
    )?)?;
    assert!(
        report["files"].as_u64().unwrap_or(0) >= 4,
        "one file per exporter at least: {report}"
    );
    assert_eq!(
        report["truth"].as_object().map(|o| o.len()),
        Some(4),
        "4 exporters in the truth: {report}"
    );
    assert_eq!(
        report["stored"], report["truth"],
        "stored per-exporter totals differ from the truth"
    );
    Ok(())
}
