//! The writer thread: appends shipped batches to the channel store, runs its periodic work
//! (fsync, sealing), and seals everything when the receivers have stopped.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use engine::schema::col;
use engine::store::FlowStore;

use crate::error::IngestError;
use crate::metrics::{ExporterLabel, IngestMetrics};

/// How often the store's periodic work runs.
const MAINTAIN_EVERY: Duration = Duration::from_millis(200);

/// Runs until every sender is gone, then closes the store (sealing all open windows).
pub fn run(
    mut store: FlowStore,
    from_receivers: Receiver<RecordBatch>,
    metrics: Arc<IngestMetrics>,
) -> Result<(), IngestError> {
    let mut last_maintain = Instant::now();
    let mut reported = store.stats();
    loop {
        match from_receivers.recv_timeout(MAINTAIN_EVERY) {
            Ok(batch) => append(&mut store, &batch, &metrics),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_maintain.elapsed() >= MAINTAIN_EVERY {
            last_maintain = Instant::now();
            if let Err(e) = store.maintain(engine::clock::now_ms()) {
                tracing::error!(error = %e, "store maintenance failed");
            }
            // The seal thread works between maintenance calls: report what it did since the last.
            let now = store.stats();
            metrics
                .windows_sealed
                .inc_by(now.windows_sealed.saturating_sub(reported.windows_sealed));
            metrics
                .rollup_errors
                .inc_by(now.rollup_errors.saturating_sub(reported.rollup_errors));
            reported = now;
        }
    }
    let report = store.close()?;
    tracing::info!(?report, "store closed, every open window sealed");
    Ok(())
}

fn append(store: &mut FlowStore, batch: &RecordBatch, metrics: &IngestMetrics) {
    let rows = batch.num_rows() as u64;
    match store.append(batch) {
        Ok(report) => {
            metrics.flows_misfiled.inc_by(report.rows_misfiled as u64);
            let label = ExporterLabel {
                exporter: exporter_of(batch),
            };
            metrics.flows_stored.get_or_create(&label).inc_by(rows);
        }
        Err(e) => {
            tracing::error!(error = %e, rows, "flows not stored");
            metrics.dropped("store", "write_error", rows);
        }
    }
}

/// The exporter of a batch shipped by a receiver (all its rows share it).
fn exporter_of(batch: &RecordBatch) -> String {
    batch
        .column_by_name(col::EXPORTER)
        .map(|c| c.as_fixed_size_binary())
        .filter(|c| c.len() > 0)
        .and_then(|c| engine::addr::to_text(c.value(0)))
        .unwrap_or_default()
}
