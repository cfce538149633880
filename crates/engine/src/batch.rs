//! Building flow record batches column by column, with no per-flow allocation.
//!
//! A decoder fills one [`FlowRecord`] on the stack per flow and appends it to a
//! [`FlowBatchBuilder`]; `None` fields become nulls.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeBinaryBuilder, PrimitiveBuilder, RecordBatch, TimestampMillisecondBuilder, UInt8Builder,
    UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{ArrowPrimitiveType, TimestampMillisecondType};

use crate::addr::{ADDR_WIDTH, Addr16};
use crate::schema::flow_schema;

/// One flow, as decoded. Times are milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowRecord {
    pub flow_start: i64,
    pub flow_end: Option<i64>,
    pub exporter: Addr16,
    pub observation_domain: u32,
    pub src_addr: Option<Addr16>,
    pub dst_addr: Option<Addr16>,
    pub next_hop: Option<Addr16>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
    pub tcp_flags: Option<u16>,
    pub tos: Option<u8>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    pub sampling_interval: Option<u32>,
    pub input_if: Option<u32>,
    pub output_if: Option<u32>,
    pub src_as: Option<u32>,
    pub dst_as: Option<u32>,
    pub src_mask: Option<u8>,
    pub dst_mask: Option<u8>,
    pub vlan: Option<u16>,
    pub direction: Option<u8>,
}

/// Column builders for the flow schema.
pub struct FlowBatchBuilder {
    flow_start: TimestampMillisecondBuilder,
    flow_end: TimestampMillisecondBuilder,
    exporter: FixedSizeBinaryBuilder,
    observation_domain: UInt32Builder,
    src_addr: FixedSizeBinaryBuilder,
    dst_addr: FixedSizeBinaryBuilder,
    next_hop: FixedSizeBinaryBuilder,
    src_port: UInt16Builder,
    dst_port: UInt16Builder,
    protocol: UInt8Builder,
    tcp_flags: UInt16Builder,
    tos: UInt8Builder,
    packets: UInt64Builder,
    bytes: UInt64Builder,
    sampling_interval: UInt32Builder,
    input_if: UInt32Builder,
    output_if: UInt32Builder,
    src_as: UInt32Builder,
    dst_as: UInt32Builder,
    src_mask: UInt8Builder,
    dst_mask: UInt8Builder,
    vlan: UInt16Builder,
    direction: UInt8Builder,
    len: usize,
}

impl std::fmt::Debug for FlowBatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowBatchBuilder").field("len", &self.len).finish()
    }
}

fn addr_builder(capacity: usize) -> FixedSizeBinaryBuilder {
    FixedSizeBinaryBuilder::with_capacity(capacity, ADDR_WIDTH)
}

#[inline]
fn put<T: ArrowPrimitiveType>(b: &mut PrimitiveBuilder<T>, v: Option<T::Native>) {
    b.append_option(v);
}

#[inline]
fn put_addr(b: &mut FixedSizeBinaryBuilder, v: &Option<Addr16>) {
    match v {
        // Appending a 16-byte value to a 16-byte builder cannot fail.
        Some(a) => b.append_value(a).expect("address width is 16"),
        None => b.append_null(),
    }
}

impl FlowBatchBuilder {
    /// A builder with room for `capacity` flows before it reallocates.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            flow_start: PrimitiveBuilder::<TimestampMillisecondType>::with_capacity(capacity),
            flow_end: PrimitiveBuilder::<TimestampMillisecondType>::with_capacity(capacity),
            exporter: addr_builder(capacity),
            observation_domain: UInt32Builder::with_capacity(capacity),
            src_addr: addr_builder(capacity),
            dst_addr: addr_builder(capacity),
            next_hop: addr_builder(capacity),
            src_port: UInt16Builder::with_capacity(capacity),
            dst_port: UInt16Builder::with_capacity(capacity),
            protocol: UInt8Builder::with_capacity(capacity),
            tcp_flags: UInt16Builder::with_capacity(capacity),
            tos: UInt8Builder::with_capacity(capacity),
            packets: UInt64Builder::with_capacity(capacity),
            bytes: UInt64Builder::with_capacity(capacity),
            sampling_interval: UInt32Builder::with_capacity(capacity),
            input_if: UInt32Builder::with_capacity(capacity),
            output_if: UInt32Builder::with_capacity(capacity),
            src_as: UInt32Builder::with_capacity(capacity),
            dst_as: UInt32Builder::with_capacity(capacity),
            src_mask: UInt8Builder::with_capacity(capacity),
            dst_mask: UInt8Builder::with_capacity(capacity),
            vlan: UInt16Builder::with_capacity(capacity),
            direction: UInt8Builder::with_capacity(capacity),
            len: 0,
        }
    }

    /// Number of flows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no flow has been appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one flow.
    #[inline]
    pub fn append(&mut self, r: &FlowRecord) {
        self.flow_start.append_value(r.flow_start);
        put(&mut self.flow_end, r.flow_end);
        put_addr(&mut self.exporter, &Some(r.exporter));
        self.observation_domain.append_value(r.observation_domain);
        put_addr(&mut self.src_addr, &r.src_addr);
        put_addr(&mut self.dst_addr, &r.dst_addr);
        put_addr(&mut self.next_hop, &r.next_hop);
        put(&mut self.src_port, r.src_port);
        put(&mut self.dst_port, r.dst_port);
        put(&mut self.protocol, r.protocol);
        put(&mut self.tcp_flags, r.tcp_flags);
        put(&mut self.tos, r.tos);
        put(&mut self.packets, r.packets);
        put(&mut self.bytes, r.bytes);
        put(&mut self.sampling_interval, r.sampling_interval);
        put(&mut self.input_if, r.input_if);
        put(&mut self.output_if, r.output_if);
        put(&mut self.src_as, r.src_as);
        put(&mut self.dst_as, r.dst_as);
        put(&mut self.src_mask, r.src_mask);
        put(&mut self.dst_mask, r.dst_mask);
        put(&mut self.vlan, r.vlan);
        put(&mut self.direction, r.direction);
        self.len += 1;
    }

    /// Takes the appended flows as a batch of the flow schema and resets the builder.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.flow_start.finish().with_timezone("UTC")),
            Arc::new(self.flow_end.finish().with_timezone("UTC")),
            Arc::new(self.exporter.finish()),
            Arc::new(self.observation_domain.finish()),
            Arc::new(self.src_addr.finish()),
            Arc::new(self.dst_addr.finish()),
            Arc::new(self.next_hop.finish()),
            Arc::new(self.src_port.finish()),
            Arc::new(self.dst_port.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.tcp_flags.finish()),
            Arc::new(self.tos.finish()),
            Arc::new(self.packets.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.sampling_interval.finish()),
            Arc::new(self.input_if.finish()),
            Arc::new(self.output_if.finish()),
            Arc::new(self.src_as.finish()),
            Arc::new(self.dst_as.finish()),
            Arc::new(self.src_mask.finish()),
            Arc::new(self.dst_mask.finish()),
            Arc::new(self.vlan.finish()),
            Arc::new(self.direction.finish()),
        ];
        self.len = 0;
        // The columns are built to the schema's types and nullability, so this cannot fail.
        RecordBatch::try_new(flow_schema(), columns).expect("builder matches the flow schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::from_v4_u32;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::UInt64Type;

    #[test]
    fn absent_fields_become_nulls_and_present_ones_values() {
        let mut b = FlowBatchBuilder::with_capacity(2);
        b.append(&FlowRecord {
            flow_start: 1_000,
            exporter: from_v4_u32(0x7f00_0001),
            packets: Some(3),
            src_addr: Some(from_v4_u32(0x0a00_0001)),
            ..Default::default()
        });
        b.append(&FlowRecord {
            flow_start: 2_000,
            exporter: from_v4_u32(0x7f00_0001),
            ..Default::default()
        });
        assert_eq!(b.len(), 2);
        let batch = b.finish();
        assert!(b.is_empty());
        assert_eq!(batch.num_rows(), 2);
        let packets = batch.column_by_name("packets").unwrap().as_primitive::<UInt64Type>();
        assert_eq!(packets.value(0), 3);
        assert!(packets.is_null(1));
        assert_eq!(batch.column_by_name("src_addr").unwrap().null_count(), 1);
        assert_eq!(batch.column_by_name("bytes").unwrap().null_count(), 2);
    }
}
