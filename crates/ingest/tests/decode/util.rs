//! Reading decoded batches back into flow records, and small helpers.

use std::net::IpAddr;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMillisecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use engine::schema::col;
use engine::{FlowBatchBuilder, FlowRecord};
use flowfold_ingest::decode::{DecodeReport, Decoder, DecoderConfig};

/// The flows of a batch, in order.
pub fn records(batch: &RecordBatch) -> Vec<FlowRecord> {
    let c = |name: &str| batch.column_by_name(name).expect("flow schema column");
    macro_rules! prim {
        ($name:expr, $t:ty, $i:expr) => {{
            let a = c($name).as_primitive::<$t>();
            if a.is_null($i) { None } else { Some(a.value($i)) }
        }};
    }
    let addr = |name: &str, i: usize| -> Option<[u8; 16]> {
        let a = c(name).as_fixed_size_binary();
        if a.is_null(i) { None } else { a.value(i).try_into().ok() }
    };
    (0..batch.num_rows())
        .map(|i| FlowRecord {
            flow_start: prim!(col::FLOW_START, TimestampMillisecondType, i).expect("flow_start is never null"),
            flow_end: prim!(col::FLOW_END, TimestampMillisecondType, i),
            exporter: addr(col::EXPORTER, i).expect("exporter is never null"),
            observation_domain: prim!(col::OBSERVATION_DOMAIN, UInt32Type, i).expect("domain is never null"),
            src_addr: addr(col::SRC_ADDR, i),
            dst_addr: addr(col::DST_ADDR, i),
            next_hop: addr(col::NEXT_HOP, i),
            src_port: prim!(col::SRC_PORT, UInt16Type, i),
            dst_port: prim!(col::DST_PORT, UInt16Type, i),
            protocol: prim!(col::PROTOCOL, UInt8Type, i),
            tcp_flags: prim!(col::TCP_FLAGS, UInt16Type, i),
            tos: prim!(col::TOS, UInt8Type, i),
            packets: prim!(col::PACKETS, UInt64Type, i),
            bytes: prim!(col::BYTES, UInt64Type, i),
            sampling_interval: prim!(col::SAMPLING_INTERVAL, UInt32Type, i),
            input_if: prim!(col::INPUT_IF, UInt32Type, i),
            output_if: prim!(col::OUTPUT_IF, UInt32Type, i),
            src_as: prim!(col::SRC_AS, UInt32Type, i),
            dst_as: prim!(col::DST_AS, UInt32Type, i),
            src_mask: prim!(col::SRC_MASK, UInt8Type, i),
            dst_mask: prim!(col::DST_MASK, UInt8Type, i),
            vlan: prim!(col::VLAN, UInt16Type, i),
            direction: prim!(col::DIRECTION, UInt8Type, i),
        })
        .collect()
}

/// A decoder with the default configuration.
pub fn decoder() -> Decoder {
    Decoder::new(DecoderConfig::default())
}

/// The exporter used by hand-built packets.
pub fn exporter() -> IpAddr {
    "192.0.2.1".parse().expect("literal address")
}

/// Decodes datagrams in order; returns the flows and every report.
pub fn decode_all(d: &mut Decoder, from: IpAddr, datagrams: &[Vec<u8>]) -> (Vec<FlowRecord>, Vec<DecodeReport>) {
    let mut out = FlowBatchBuilder::with_capacity(1024);
    let mut reports = Vec::new();
    for dg in datagrams {
        reports.push(d.decode(from, dg, 1_700_000_000_000, &mut out));
    }
    (records(&out.finish()), reports)
}

/// Decodes one datagram.
pub fn decode_one(d: &mut Decoder, dg: &[u8]) -> (Vec<FlowRecord>, DecodeReport) {
    let (flows, mut reports) = decode_all(d, exporter(), &[dg.to_vec()]);
    (flows, reports.remove(0))
}
