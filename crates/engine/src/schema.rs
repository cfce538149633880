//! The one flow record schema (DESIGN section 2), used by decoders, storage, queries and clients.
//!
//! Addresses are `FixedSizeBinary(16)` with field metadata `flowfold.type = ip`, so clients and
//! the CLI know to show them as text. Every field a flow may lack is nullable: absent is null,
//! never a made-up zero. `flow_start` and `exporter` always exist: they place a flow in storage.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::addr::ADDR_WIDTH;

/// Field metadata key that marks a column's logical type.
pub const TYPE_KEY: &str = "flowfold.type";
/// Value of [`TYPE_KEY`] on address columns.
pub const TYPE_IP: &str = "ip";

/// Column names, in schema order.
pub mod col {
    pub const FLOW_START: &str = "flow_start";
    pub const FLOW_END: &str = "flow_end";
    pub const EXPORTER: &str = "exporter";
    pub const OBSERVATION_DOMAIN: &str = "observation_domain";
    pub const SRC_ADDR: &str = "src_addr";
    pub const DST_ADDR: &str = "dst_addr";
    pub const NEXT_HOP: &str = "next_hop";
    pub const SRC_PORT: &str = "src_port";
    pub const DST_PORT: &str = "dst_port";
    pub const PROTOCOL: &str = "protocol";
    pub const TCP_FLAGS: &str = "tcp_flags";
    pub const TOS: &str = "tos";
    pub const PACKETS: &str = "packets";
    pub const BYTES: &str = "bytes";
    pub const SAMPLING_INTERVAL: &str = "sampling_interval";
    pub const INPUT_IF: &str = "input_if";
    pub const OUTPUT_IF: &str = "output_if";
    pub const SRC_AS: &str = "src_as";
    pub const DST_AS: &str = "dst_as";
    pub const SRC_MASK: &str = "src_mask";
    pub const DST_MASK: &str = "dst_mask";
    pub const VLAN: &str = "vlan";
    pub const DIRECTION: &str = "direction";
}

/// The Arrow type of `flow_start` and `flow_end`.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The Arrow type of address columns.
pub fn addr_type() -> DataType {
    DataType::FixedSizeBinary(ADDR_WIDTH)
}

fn addr_field(name: &str, nullable: bool) -> Field {
    Field::new(name, addr_type(), nullable).with_metadata(HashMap::from([(TYPE_KEY.to_string(), TYPE_IP.to_string())]))
}

static FLOW_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use col::*;
    Arc::new(Schema::new(vec![
        Field::new(FLOW_START, timestamp_type(), false),
        Field::new(FLOW_END, timestamp_type(), true),
        addr_field(EXPORTER, false),
        Field::new(OBSERVATION_DOMAIN, DataType::UInt32, false),
        addr_field(SRC_ADDR, true),
        addr_field(DST_ADDR, true),
        addr_field(NEXT_HOP, true),
        Field::new(SRC_PORT, DataType::UInt16, true),
        Field::new(DST_PORT, DataType::UInt16, true),
        Field::new(PROTOCOL, DataType::UInt8, true),
        Field::new(TCP_FLAGS, DataType::UInt16, true),
        Field::new(TOS, DataType::UInt8, true),
        Field::new(PACKETS, DataType::UInt64, true),
        Field::new(BYTES, DataType::UInt64, true),
        Field::new(SAMPLING_INTERVAL, DataType::UInt32, true),
        Field::new(INPUT_IF, DataType::UInt32, true),
        Field::new(OUTPUT_IF, DataType::UInt32, true),
        Field::new(SRC_AS, DataType::UInt32, true),
        Field::new(DST_AS, DataType::UInt32, true),
        Field::new(SRC_MASK, DataType::UInt8, true),
        Field::new(DST_MASK, DataType::UInt8, true),
        Field::new(VLAN, DataType::UInt16, true),
        Field::new(DIRECTION, DataType::UInt8, true),
    ]))
});

/// The flow record schema.
pub fn flow_schema() -> SchemaRef {
    Arc::clone(&FLOW_SCHEMA)
}

/// `true` if the field holds IP addresses (by its metadata).
pub fn is_addr_field(field: &Field) -> bool {
    field.metadata().get(TYPE_KEY).map(String::as_str) == Some(TYPE_IP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_columns_are_marked_and_others_not() {
        let schema = flow_schema();
        let marked: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| is_addr_field(f))
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(marked, vec!["exporter", "src_addr", "dst_addr", "next_hop"]);
    }

    #[test]
    fn only_placement_columns_are_required() {
        let schema = flow_schema();
        let required: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| !f.is_nullable())
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(required, vec!["flow_start", "exporter", "observation_domain"]);
    }
}
