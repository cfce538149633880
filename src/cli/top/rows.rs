//! The result batches of the top query as rows: one per group, plus the totals every row carries.

use anyhow::Context;
use arrow::array::{AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::query::col;

/// One group: the counters and rates nfdump prints for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Earliest `flow_start` (epoch ms).
    pub first_seen: i64,
    /// Latest `flow_end` (epoch ms).
    pub last_seen: i64,
    /// `last_seen - first_seen` in ms (0 if negative).
    pub duration_ms: i64,
    /// `any`, or the protocol's name for the `proto` stat.
    pub proto: Option<String>,
    /// The stat's value as text (`None` for flows lacking the field).
    pub val: Option<String>,
    /// Flows counted under the value.
    pub flows: i64,
    /// `flows` as a percentage of all flows passing the filter.
    pub flows_pct: f64,
    /// Packets of those flows.
    pub packets: i64,
    /// `packets` as a percentage of all packets passing the filter.
    pub packets_pct: f64,
    /// Bytes of those flows.
    pub bytes: i64,
    /// `bytes` as a percentage of all bytes passing the filter.
    pub bytes_pct: f64,
    /// Packets per second over the duration.
    pub pps: i64,
    /// Bits per second over the duration.
    pub bps: i64,
    /// Bytes per packet.
    pub bpp: i64,
}

/// Totals over every flow passing the filter (nfdump's summary line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Flows passing the filter.
    pub flows: i64,
    /// Their packets.
    pub packets: i64,
    /// Their bytes.
    pub bytes: i64,
    /// Packets per second from the first to the last of them.
    pub pps: i64,
    /// Bits per second likewise.
    pub bps: i64,
    /// Bytes per packet.
    pub bpp: i64,
}

/// The groups in result order and the totals (all 0 when no flow passed).
pub fn read(batches: &[RecordBatch]) -> anyhow::Result<(Vec<Group>, Totals)> {
    let mut groups = Vec::new();
    let mut totals = Totals::default();
    for batch in batches {
        let column = |name: &str, to: &DataType| -> anyhow::Result<_> {
            let array = batch
                .column_by_name(name)
                .with_context(|| format!("no column {name} in the result"))?;
            Ok(cast(array, to)?)
        };
        let int = |name: &str| -> anyhow::Result<Vec<i64>> {
            let array = column(name, &DataType::Int64)?;
            Ok(array
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.unwrap_or(0))
                .collect())
        };
        let float = |name: &str| -> anyhow::Result<Vec<f64>> {
            let array = column(name, &DataType::Float64)?;
            Ok(array
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .collect())
        };
        let text = |name: &str| -> anyhow::Result<Vec<Option<String>>> {
            let array = column(name, &DataType::Utf8)?;
            Ok(array.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
        };
        let (first, last, duration) = (int(col::FIRST_SEEN)?, int(col::LAST_SEEN)?, int(col::DURATION_MS)?);
        let (proto, val) = (text(col::PROTO)?, text(col::VAL)?);
        let (flows, flows_pct) = (int(col::FLOWS)?, float(col::FLOWS_PCT)?);
        let (packets, packets_pct) = (int(col::PACKETS)?, float(col::PACKETS_PCT)?);
        let (bytes, bytes_pct) = (int(col::BYTES)?, float(col::BYTES_PCT)?);
        let (pps, bps, bpp) = (int(col::PPS)?, int(col::BPS)?, int(col::BPP)?);
        for i in 0..batch.num_rows() {
            groups.push(Group {
                first_seen: first[i],
                last_seen: last[i],
                duration_ms: duration[i],
                proto: proto[i].clone(),
                val: val[i].clone(),
                flows: flows[i],
                flows_pct: flows_pct[i],
                packets: packets[i],
                packets_pct: packets_pct[i],
                bytes: bytes[i],
                bytes_pct: bytes_pct[i],
                pps: pps[i],
                bps: bps[i],
                bpp: bpp[i],
            });
        }
        if batch.num_rows() > 0 {
            let total = |name: &str| -> anyhow::Result<i64> { Ok(int(name)?[0]) };
            totals = Totals {
                flows: total(col::TOTAL_FLOWS)?,
                packets: total(col::TOTAL_PACKETS)?,
                bytes: total(col::TOTAL_BYTES)?,
                pps: total(col::TOTAL_PPS)?,
                bps: total(col::TOTAL_BPS)?,
                bpp: total(col::TOTAL_BPP)?,
            };
        }
    }
    Ok((groups, totals))
}
