//! Conformance of flowfold's nfdump filters (`engine::sql::nfdump_filter`) with nfdump 1.7.1.
//!
//! The same flows reach both sides: generator flows and hand-made edge flows are exported as
//! NetFlow v9 and IPFIX to a real nfcapd (`flows.rs`); nfdump dumps the capture as JSON, and
//! those decoded flows become flowfold's table (`nfdump.rs`), so field decoding cannot differ.
//! For each case (`cases.rs`), the flow, packet and byte totals of `nfdump -R DIR FILTER` must
//! equal flowfold's count and sums over the table filtered by the compiled expression. `as`
//! cases are checked against nfdump's decoded AS fields, as nfdump 1.7.1 refuses AS filters
//! without a geo database.

mod cases;
mod flows;
mod nfdump;

use std::sync::Arc;

use anyhow::{Context, ensure};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, UInt64Type};
use datafusion::datasource::MemTable;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::prelude::{SessionContext, col, lit};
use engine::sql::nfdump_filter::compile;
use engine::{FlowBatchBuilder, FlowRecord, flow_schema};
use flowfold_tests::peers::Nfcapd;

use nfdump::Totals;

#[test]
fn filters_select_what_nfdump_selects() -> anyhow::Result<()> {
    crate::require("nfcapd");
    crate::require("nfdump");
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("nfcapd");
    let collector = Nfcapd::start(&dir)?;
    let sent = flows::export(collector.addr)?;
    let stored: u64 = collector.stop_and_read()?.values().map(|t| t.flows).sum();
    ensure!(stored == sent, "nfcapd stored {stored} of {sent} flows");
    let records = nfdump::all_flows(&dir)?;
    ensure!(
        records.len() as u64 == sent,
        "nfdump dumped {} of {sent} flows",
        records.len()
    );

    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let ctx = flow_table(&records)?;
    let mut differences = Vec::new();
    let mut proper_subsets = 0;
    let mut refused = Vec::new();
    let mut compare = |case: &str, theirs: Totals| -> anyhow::Result<()> {
        let ours = runtime.block_on(our_totals(&ctx, case))?;
        if ours != theirs {
            differences.push(format!(
                "{case:?}: flowfold {ours:?}, nfdump {theirs:?} (flows, packets, bytes)"
            ));
        }
        if theirs[0] > 0 && theirs[0] < sent {
            proper_subsets += 1;
        }
        Ok(())
    };
    for case in cases::NFDUMP {
        match nfdump::filtered_totals(&dir, case)? {
            Ok(theirs) => compare(case, theirs)?,
            Err(message) => refused.push(format!("{case:?}: {message}")),
        }
    }
    for (case, reference) in cases::AS_CASES {
        let theirs = match nfdump::filtered_totals(&dir, case)? {
            Ok(totals) => totals,
            Err(message) => {
                ensure!(message.contains("geo"), "nfdump refused {case:?}: {message}");
                reference_totals(&records, *reference)
            }
        };
        compare(case, theirs)?;
    }
    let cases = cases::NFDUMP.len() + cases::AS_CASES.len();
    ensure!(
        refused.is_empty(),
        "nfdump refused {} cases:\n{}",
        refused.len(),
        refused.join("\n")
    );
    ensure!(
        differences.is_empty(),
        "{} of {cases} cases differ from nfdump:\n{}",
        differences.len(),
        differences.join("\n")
    );
    ensure!(
        proper_subsets >= 90,
        "only {proper_subsets} of {cases} cases select some but not all flows: the data is too thin"
    );
    Ok(())
}

/// A session with the flows as table `flows`.
fn flow_table(records: &[FlowRecord]) -> anyhow::Result<SessionContext> {
    let mut builder = FlowBatchBuilder::with_capacity(records.len());
    records.iter().for_each(|r| builder.append(r));
    let table = MemTable::try_new(flow_schema(), vec![vec![builder.finish()]])?;
    let ctx = SessionContext::new();
    ctx.register_table("flows", Arc::new(table))?;
    Ok(ctx)
}

/// Flows, packets and bytes flowfold's compiled filter selects.
async fn our_totals(ctx: &SessionContext, filter: &str) -> anyhow::Result<Totals> {
    let expr = compile(filter).with_context(|| format!("compiling {filter:?}"))?;
    let batches = ctx
        .table("flows")
        .await?
        .filter(expr)?
        .aggregate(vec![], vec![count(lit(1)), sum(col("packets")), sum(col("bytes"))])?
        .collect()
        .await
        .with_context(|| format!("running {filter:?}"))?;
    let batch = batches.first().context("no result batch")?;
    let mut totals = [0u64; 3];
    for (i, total) in totals.iter_mut().enumerate() {
        let column = arrow::compute::cast(batch.column(i), &DataType::UInt64)?;
        let column = column.as_primitive::<UInt64Type>();
        *total = if column.is_null(0) { 0 } else { column.value(0) };
    }
    Ok(totals)
}

/// Totals of the flows `reference` holds for.
fn reference_totals(records: &[FlowRecord], reference: cases::Reference) -> Totals {
    records.iter().filter(|r| reference(r)).fold([0; 3], |[f, p, b], r| {
        [f + 1, p + r.packets.unwrap_or(0), b + r.bytes.unwrap_or(0)]
    })
}
