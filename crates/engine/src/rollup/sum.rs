//! Summing rollup files of one kind (parts' or hours') into one rollup, on the seal thread.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, FixedSizeBinaryArray, RecordBatch, UInt64Array};
use arrow::datatypes::{Int64Type, UInt8Type, UInt16Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::build::{Groups, PortKey, Totals, addr_key, addr_rollup, port_rollup};
use super::{FLOWS_COL, RollupKind};
use crate::addr::ADDR_WIDTH;
use crate::error::{EngineError, Result};
use crate::schema::col;

/// The sum of the rollups of `kind` at `paths`, all of one exporter; `None` if they hold no
/// row, or rows of more than one exporter (a channel's parts never do).
pub(super) fn sum_rollups(kind: RollupKind, paths: &[&Path]) -> Result<Option<RecordBatch>> {
    let mut exporter: Option<Vec<u8>> = None;
    let mut addrs = Groups::<Option<u128>>::new();
    let mut ports = Groups::<PortKey>::new();
    for path in paths {
        for batch in read_rollup(path)? {
            let exporters = fixed_column(&batch, col::EXPORTER, path)?;
            let totals = totals_of(&batch, path)?;
            for i in 0..batch.num_rows() {
                let this = exporters.is_valid(i).then(|| exporters.value(i));
                match (&exporter, this) {
                    (None, Some(e)) => exporter = Some(e.to_vec()),
                    (Some(seen), Some(e)) if seen.as_slice() == e => {}
                    _ => return Ok(None),
                }
            }
            match kind {
                RollupKind::Src | RollupKind::Dst => {
                    let keys = fixed_column(&batch, kind.keys()[0], path)?;
                    for (i, t) in totals.into_iter().enumerate() {
                        addrs.add_totals(keys.is_valid(i).then(|| addr_key(keys.value(i))), t);
                    }
                }
                RollupKind::Port => {
                    let protocol = column(&batch, col::PROTOCOL, path)?.as_primitive_opt::<UInt8Type>();
                    let port = column(&batch, col::DST_PORT, path)?.as_primitive_opt::<UInt16Type>();
                    let (Some(protocol), Some(port)) = (protocol, port) else {
                        return Err(bad(path, "protocol or dst_port has the wrong type"));
                    };
                    for (i, t) in totals.into_iter().enumerate() {
                        let key = (
                            protocol.is_valid(i).then(|| protocol.value(i)),
                            port.is_valid(i).then(|| port.value(i)),
                        );
                        ports.add_totals(key, t);
                    }
                }
            }
        }
    }
    let Some(exporter) = exporter else { return Ok(None) };
    Ok(Some(match kind {
        RollupKind::Src | RollupKind::Dst => addr_rollup(kind, &exporter, addrs.sorted())?,
        RollupKind::Port => port_rollup(&exporter, ports.sorted())?,
    }))
}

pub(super) fn read_rollup(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(EngineError::io("open rollup", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Each row's flows, packets and bytes.
fn totals_of(batch: &RecordBatch, path: &Path) -> Result<Vec<Totals>> {
    let flows = column(batch, FLOWS_COL, path)?.as_primitive_opt::<Int64Type>();
    let packets = column(batch, col::PACKETS, path)?.as_primitive_opt::<UInt64Type>();
    let bytes = column(batch, col::BYTES, path)?.as_primitive_opt::<UInt64Type>();
    let (Some(flows), Some(packets), Some(bytes)) = (flows, packets, bytes) else {
        return Err(bad(path, "flows, packets or bytes has the wrong type"));
    };
    let value = |a: &UInt64Array, i: usize| a.is_valid(i).then(|| a.value(i));
    Ok((0..batch.num_rows())
        .map(|i| Totals {
            flows: flows.value(i),
            packets: value(packets, i),
            bytes: value(bytes, i),
        })
        .collect())
}

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| bad(path, &format!("no column {name}")))
}

fn fixed_column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a FixedSizeBinaryArray> {
    column(batch, name, path)?
        .as_fixed_size_binary_opt()
        .filter(|a| a.value_length() == ADDR_WIDTH)
        .ok_or_else(|| bad(path, &format!("{name} is not a 16-byte address")))
}

fn bad(path: &Path, reason: &str) -> EngineError {
    EngineError::BadFile {
        path: path.to_path_buf(),
        reason: format!("rollup: {reason}"),
    }
}
