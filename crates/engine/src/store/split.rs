//! Splitting an appended batch into the windows (and exporters) its rows belong to.
//!
//! The common case, one exporter and one window, costs one pass over two columns and no copy.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::TimestampMillisecondType;

use crate::addr::Addr16;
use crate::error::{EngineError, Result};
use crate::layout::window_start;
use crate::schema::{col, flow_schema};

/// The parts of `batch`, one per (exporter, window start), in first-seen order.
pub(super) fn split(batch: &RecordBatch, window_ms: i64) -> Result<Vec<(Addr16, i64, RecordBatch)>> {
    check_schema(batch)?;
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let starts = batch
        .column_by_name(col::FLOW_START)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| bad("flow_start is not a millisecond timestamp"))?;
    let exporters = batch
        .column_by_name(col::EXPORTER)
        .and_then(|c| c.as_fixed_size_binary_opt())
        .ok_or_else(|| bad("exporter is not fixed-size binary"))?;
    if starts.null_count() > 0 || exporters.null_count() > 0 {
        return Err(bad("flow_start and exporter must not be null"));
    }
    let exporter_of = |i: usize| -> Result<Addr16> {
        exporters.value(i).try_into().map_err(|_| bad("exporter is not 16 bytes"))
    };
    let first_exporter = exporter_of(0)?;
    let first_window = window_start(starts.value(0), window_ms);
    let values = starts.values();
    let one_window = values.iter().all(|&t| window_start(t, window_ms) == first_window);
    let one_exporter = exporters.value_data().chunks_exact(16).all(|e| e == first_exporter);
    if one_window && one_exporter {
        return Ok(vec![(first_exporter, first_window, batch.clone())]);
    }
    let mut order: Vec<(Addr16, i64)> = Vec::new();
    let mut groups: HashMap<(Addr16, i64), Vec<u32>> = HashMap::new();
    for (i, &t) in values.iter().enumerate() {
        let key = (exporter_of(i)?, window_start(t, window_ms));
        let rows = groups.entry(key).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        rows.push(i as u32);
    }
    let mut out = Vec::with_capacity(order.len());
    for key in order {
        let rows = UInt32Array::from(groups.remove(&key).unwrap_or_default());
        out.push((key.0, key.1, take_record_batch(batch, &rows)?));
    }
    Ok(out)
}

fn bad(reason: &str) -> EngineError {
    EngineError::BadBatch { reason: reason.into() }
}

fn check_schema(batch: &RecordBatch) -> Result<()> {
    let want = flow_schema();
    let have = batch.schema();
    if have.fields().len() != want.fields().len() {
        return Err(bad(&format!("{} columns, expected {}", have.fields().len(), want.fields().len())));
    }
    for (h, w) in have.fields().iter().zip(want.fields()) {
        if h.name() != w.name() || h.data_type() != w.data_type() {
            return Err(bad(&format!(
                "column {} {} where {} {} is expected",
                h.name(),
                h.data_type(),
                w.name(),
                w.data_type()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::from_v4_u32;
    use crate::batch::{FlowBatchBuilder, FlowRecord};

    #[test]
    fn splits_by_window_and_exporter_keeping_order() {
        let mut b = FlowBatchBuilder::with_capacity(5);
        for (t, e) in [(10, 1), (70_000, 1), (20, 1), (30, 2), (61_000, 1)] {
            b.append(&FlowRecord { flow_start: t, exporter: from_v4_u32(e), ..Default::default() });
        }
        let parts = split(&b.finish(), 60_000).unwrap();
        let shape: Vec<(u8, i64, usize)> =
            parts.iter().map(|(e, s, b)| (e[15], *s, b.num_rows())).collect();
        assert_eq!(shape, vec![(1, 0, 2), (1, 60_000, 2), (2, 0, 1)]);
    }

    #[test]
    fn one_window_is_not_copied_and_wrong_schema_is_rejected() {
        let mut b = FlowBatchBuilder::with_capacity(2);
        b.append(&FlowRecord { flow_start: 1, ..Default::default() });
        b.append(&FlowRecord { flow_start: 2, ..Default::default() });
        let batch = b.finish();
        let parts = split(&batch, 60_000).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].2.num_rows(), 2);
        let narrow = batch.project(&[0, 2]).unwrap();
        assert!(matches!(split(&narrow, 60_000), Err(EngineError::BadBatch { .. })));
    }
}
