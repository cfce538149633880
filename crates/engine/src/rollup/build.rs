//! Building a rollup from a window's flows: a hash aggregation by the kind's keys, written by
//! hand because it runs on the seal thread, which has no query runtime.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, FixedSizeBinaryBuilder, Int64Array, RecordBatch, UInt8Array,
    UInt16Array, UInt64Array,
};
use arrow::datatypes::{UInt8Type, UInt16Type, UInt64Type};

use super::RollupKind;
use crate::addr::ADDR_WIDTH;
use crate::error::{EngineError, Result};
use crate::schema::col;

/// Count and sums of one rollup row.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Totals {
    pub(super) flows: i64,
    pub(super) packets: Option<u64>,
    pub(super) bytes: Option<u64>,
}

impl Totals {
    /// Adds one flow; null counters leave their sum alone (SQL `sum` skips nulls), and sums
    /// wrap as DataFusion's `sum` over `UInt64` does.
    fn add(&mut self, packets: Option<u64>, bytes: Option<u64>) {
        self.flows += 1;
        self.add_sums(packets, bytes);
    }

    /// Adds the totals of other flows (a rollup row), with the same rules as [`Totals::add`].
    pub(super) fn merge(&mut self, other: Totals) {
        self.flows += other.flows;
        self.add_sums(other.packets, other.bytes);
    }

    fn add_sums(&mut self, packets: Option<u64>, bytes: Option<u64>) {
        if let Some(p) = packets {
            self.packets = Some(self.packets.unwrap_or(0).wrapping_add(p));
        }
        if let Some(b) = bytes {
            self.bytes = Some(self.bytes.unwrap_or(0).wrapping_add(b));
        }
    }
}

/// Distinct keys in first-seen order with their totals.
pub(super) struct Groups<K> {
    index: HashMap<K, usize, foldhash::fast::FixedState>,
    keys: Vec<K>,
    totals: Vec<Totals>,
}

impl<K: Hash + Eq + Copy + Ord> Groups<K> {
    pub(super) fn new() -> Self {
        Groups {
            index: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            keys: Vec::new(),
            totals: Vec::new(),
        }
    }

    fn add(&mut self, key: K, packets: Option<u64>, bytes: Option<u64>) {
        let slot = self.slot(key);
        self.totals[slot].add(packets, bytes);
    }

    /// Adds a rollup row's totals to its key's.
    pub(super) fn add_totals(&mut self, key: K, totals: Totals) {
        let slot = self.slot(key);
        self.totals[slot].merge(totals);
    }

    fn slot(&mut self, key: K) -> usize {
        *self.index.entry(key).or_insert_with(|| {
            self.keys.push(key);
            self.totals.push(Totals::default());
            self.keys.len() - 1
        })
    }

    /// Keys and totals sorted by key (nulls first), so the file's statistics prune by key.
    pub(super) fn sorted(self) -> Vec<(K, Totals)> {
        let mut rows: Vec<(K, Totals)> = self.keys.into_iter().zip(self.totals).collect();
        rows.sort_unstable_by_key(|(k, _)| *k);
        rows
    }
}

/// The rollup of `kind` over `window` (flow schema), or `None` if the window is empty or holds
/// more than one exporter (a part of the store never does; a rollup keeps one exporter value).
pub fn build_rollup(window: &RecordBatch, kind: RollupKind) -> Result<Option<RecordBatch>> {
    if window.num_rows() == 0 {
        return Ok(None);
    }
    let exporter = addr_column(window, col::EXPORTER)?;
    if exporter.null_count() > 0 || (1..exporter.len()).any(|i| exporter.value(i) != exporter.value(0)) {
        return Ok(None);
    }
    let packets = window_column(window, col::PACKETS)?.as_primitive::<UInt64Type>();
    let bytes = window_column(window, col::BYTES)?.as_primitive::<UInt64Type>();
    let value = |a: &UInt64Array, i: usize| a.is_valid(i).then(|| a.value(i));
    let n = window.num_rows();
    let batch = match kind {
        RollupKind::Src | RollupKind::Dst => {
            let addrs = addr_column(window, kind.keys()[0])?;
            let mut groups = Groups::<Option<u128>>::new();
            for i in 0..n {
                let key = addrs.is_valid(i).then(|| addr_key(addrs.value(i)));
                groups.add(key, value(packets, i), value(bytes, i));
            }
            addr_rollup(kind, exporter.value(0), groups.sorted())?
        }
        RollupKind::Port => {
            let protocol = window_column(window, col::PROTOCOL)?.as_primitive::<UInt8Type>();
            let port = window_column(window, col::DST_PORT)?.as_primitive::<UInt16Type>();
            let mut groups = Groups::<PortKey>::new();
            for i in 0..n {
                let key = (
                    protocol.is_valid(i).then(|| protocol.value(i)),
                    port.is_valid(i).then(|| port.value(i)),
                );
                groups.add(key, value(packets, i), value(bytes, i));
            }
            port_rollup(exporter.value(0), groups.sorted())?
        }
    };
    Ok(Some(batch))
}

/// The key of a `port` rollup row: protocol and destination port.
pub(super) type PortKey = (Option<u8>, Option<u16>);

/// The `src` or `dst` rollup (`kind`) of `exporter` with the rows `sorted`.
pub(super) fn addr_rollup(
    kind: RollupKind,
    exporter: &[u8],
    sorted: Vec<(Option<u128>, Totals)>,
) -> Result<RecordBatch> {
    let mut builder = FixedSizeBinaryBuilder::with_capacity(sorted.len(), ADDR_WIDTH);
    for (key, _) in &sorted {
        match key {
            Some(k) => builder.append_value(k.to_be_bytes())?,
            None => builder.append_null(),
        }
    }
    let keys: Vec<ArrayRef> = vec![Arc::new(builder.finish())];
    rollup_batch(kind, exporter, keys, sorted.into_iter().map(|(_, t)| t).collect())
}

/// The `port` rollup of `exporter` with the rows `sorted`.
pub(super) fn port_rollup(exporter: &[u8], sorted: Vec<(PortKey, Totals)>) -> Result<RecordBatch> {
    let protocols: UInt8Array = sorted.iter().map(|((p, _), _)| *p).collect();
    let ports: UInt16Array = sorted.iter().map(|((_, p), _)| *p).collect();
    let keys: Vec<ArrayRef> = vec![Arc::new(protocols), Arc::new(ports)];
    rollup_batch(
        RollupKind::Port,
        exporter,
        keys,
        sorted.into_iter().map(|(_, t)| t).collect(),
    )
}

fn rollup_batch(kind: RollupKind, exporter: &[u8], keys: Vec<ArrayRef>, rows: Vec<Totals>) -> Result<RecordBatch> {
    let exporters = FixedSizeBinaryArray::try_from_iter(std::iter::repeat_n(exporter, rows.len()))?;
    let mut columns: Vec<ArrayRef> = vec![Arc::new(exporters)];
    columns.extend(keys);
    columns.push(Arc::new(rows.iter().map(|t| t.flows).collect::<Int64Array>()));
    columns.push(Arc::new(rows.iter().map(|t| t.packets).collect::<UInt64Array>()));
    columns.push(Arc::new(rows.iter().map(|t| t.bytes).collect::<UInt64Array>()));
    Ok(RecordBatch::try_new(kind.schema(), columns)?)
}

/// An address as one integer whose order is the byte order.
pub(super) fn addr_key(bytes: &[u8]) -> u128 {
    let mut key = [0u8; 16];
    key.copy_from_slice(&bytes[..16]);
    u128::from_be_bytes(key)
}

fn window_column<'a>(window: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    window.column_by_name(name).ok_or_else(|| EngineError::BadBatch {
        reason: format!("missing column {name}"),
    })
}

fn addr_column<'a>(window: &'a RecordBatch, name: &str) -> Result<&'a FixedSizeBinaryArray> {
    window_column(window, name)?
        .as_fixed_size_binary_opt()
        .filter(|a| a.value_length() == ADDR_WIDTH)
        .ok_or_else(|| EngineError::BadBatch {
            reason: format!("column {name} is not a 16-byte address"),
        })
}
