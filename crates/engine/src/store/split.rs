//! Splitting an appended batch into the windows (and exporters) its rows belong to.
//!
//! The common case, one exporter and one window, costs one pass over two columns and no copy.
//!
//! A flow goes to the window of its `flow_start`, unless that time is implausible: older than
//! the store's `max_lateness` or further ahead than `max_lead`, measured from the moment it is
//! stored. Such a flow (a wrong exporter clock, garbage that happened to decode) is filed in the
//! window of that moment, keeping its own `flow_start`: nothing is lost, and one bad clock cannot
//! open a window per flow. Queries prune on Parquet statistics of `flow_start`, so they still
//! find it; readers that prune on the directory names alone do not.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::TimestampMillisecondType;

use crate::addr::Addr16;
use crate::error::{EngineError, Result};
use crate::layout::window_start;
use crate::schema::{col, flow_schema};

/// Which window a flow is filed in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Filing {
    /// Window length, ms.
    pub window_ms: i64,
    /// The moment of storing, ms since the epoch.
    pub now_ms: i64,
    /// Oldest plausible `flow_start`, ms before `now_ms`.
    pub max_lateness_ms: i64,
    /// Furthest plausible `flow_start`, ms after `now_ms`.
    pub max_lead_ms: i64,
}

impl Filing {
    /// The window start a flow starting at `t` is filed in.
    #[inline]
    pub fn window_of(&self, t: i64) -> i64 {
        if t < self.now_ms.saturating_sub(self.max_lateness_ms) || t > self.now_ms.saturating_add(self.max_lead_ms) {
            window_start(self.now_ms, self.window_ms)
        } else {
            window_start(t, self.window_ms)
        }
    }

    /// `true` if a flow starting at `t` is filed away from its own window.
    #[inline]
    pub fn misdated(&self, t: i64) -> bool {
        window_start(t, self.window_ms) != self.window_of(t)
    }
}

/// Rows of `batch` filed away from their own window (see [`Filing`]).
pub(super) fn count_misdated(batch: &RecordBatch, filing: &Filing) -> usize {
    batch
        .column_by_name(col::FLOW_START)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .map_or(0, |starts| {
            starts.values().iter().filter(|&&t| filing.misdated(t)).count()
        })
}

/// Whether rows of `batch`, filed in the window starting at `window_start`, start outside that
/// window's hour directory (see [`crate::outliers`]).
pub(super) fn leaves_hour(batch: &RecordBatch, window_start: i64) -> bool {
    let Some(starts) = batch
        .column_by_name(col::FLOW_START)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
    else {
        return false;
    };
    match (arrow::compute::min(starts), arrow::compute::max(starts)) {
        (Some(first), Some(last)) => crate::outliers::leaves_hour(window_start, first, last),
        _ => false,
    }
}

/// The parts of `batch`, one per (exporter, window start), in first-seen order.
pub(super) fn split(batch: &RecordBatch, filing: &Filing) -> Result<Vec<(Addr16, i64, RecordBatch)>> {
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
        exporters
            .value(i)
            .try_into()
            .map_err(|_| bad("exporter is not 16 bytes"))
    };
    let first_exporter = exporter_of(0)?;
    let first_window = filing.window_of(starts.value(0));
    let values = starts.values();
    let one_window = values.iter().all(|&t| filing.window_of(t) == first_window);
    let one_exporter = exporters.value_data().chunks_exact(16).all(|e| e == first_exporter);
    if one_window && one_exporter {
        return Ok(vec![(first_exporter, first_window, batch.clone())]);
    }
    let mut order: Vec<(Addr16, i64)> = Vec::new();
    let mut groups: HashMap<(Addr16, i64), Vec<u32>> = HashMap::new();
    for (i, &t) in values.iter().enumerate() {
        let key = (exporter_of(i)?, filing.window_of(t));
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
        return Err(bad(&format!(
            "{} columns, expected {}",
            have.fields().len(),
            want.fields().len()
        )));
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

    /// One-minute windows where every time is plausible.
    fn lenient() -> Filing {
        Filing {
            window_ms: 60_000,
            now_ms: 0,
            max_lateness_ms: i64::MAX,
            max_lead_ms: i64::MAX,
        }
    }

    #[test]
    fn implausible_times_are_filed_in_the_current_window_with_their_own_time() {
        let now = 1_800_000_030_000;
        let filing = Filing {
            window_ms: 60_000,
            now_ms: now,
            max_lateness_ms: 3_600_000,
            max_lead_ms: 60_000,
        };
        let mut b = FlowBatchBuilder::with_capacity(4);
        for t in [now - 1_000, now - 7_200_000, 5, now + 3_600_000] {
            b.append(&FlowRecord {
                flow_start: t,
                exporter: from_v4_u32(1),
                ..Default::default()
            });
        }
        let parts = split(&b.finish(), &filing).unwrap();
        let current = window_start(now, 60_000);
        let shape: Vec<(i64, usize)> = parts.iter().map(|(_, s, b)| (*s, b.num_rows())).collect();
        assert_eq!(shape, vec![(current, 4)], "all four in the current window");
        assert!(!filing.misdated(now - 1_000));
        assert!(filing.misdated(5) && filing.misdated(now + 3_600_000) && filing.misdated(now - 7_200_000));
        let starts = parts[0]
            .2
            .column_by_name(col::FLOW_START)
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(starts.value(2), 5, "the flow keeps its own time");
    }

    #[test]
    fn splits_by_window_and_exporter_keeping_order() {
        let mut b = FlowBatchBuilder::with_capacity(5);
        for (t, e) in [(10, 1), (70_000, 1), (20, 1), (30, 2), (61_000, 1)] {
            b.append(&FlowRecord {
                flow_start: t,
                exporter: from_v4_u32(e),
                ..Default::default()
            });
        }
        let parts = split(&b.finish(), &lenient()).unwrap();
        let shape: Vec<(u8, i64, usize)> = parts.iter().map(|(e, s, b)| (e[15], *s, b.num_rows())).collect();
        assert_eq!(shape, vec![(1, 0, 2), (1, 60_000, 2), (2, 0, 1)]);
    }

    #[test]
    fn one_window_is_not_copied_and_wrong_schema_is_rejected() {
        let mut b = FlowBatchBuilder::with_capacity(2);
        b.append(&FlowRecord {
            flow_start: 1,
            ..Default::default()
        });
        b.append(&FlowRecord {
            flow_start: 2,
            ..Default::default()
        });
        let batch = b.finish();
        let parts = split(&batch, &lenient()).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].2.num_rows(), 2);
        let narrow = batch.project(&[0, 2]).unwrap();
        assert!(matches!(split(&narrow, &lenient()), Err(EngineError::BadBatch { .. })));
    }
}
