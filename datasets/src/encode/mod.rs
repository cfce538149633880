//! NetFlow v5, v9 and IPFIX encoders: flow records to export datagrams, the mirror image of
//! the ingest decoders. Used by the generator's sender, decoder round-trip tests and benches.
//!
//! - v5 (`v5.rs`): IPv4 only, IPv6 flows are skipped ([`Encoder::carries`] says which).
//! - v9 and IPFIX (`templated.rs`): separate IPv4 and IPv6 templates (`layout.rs`), refreshed
//!   every `template_refresh_packets` datagrams; sampling sent as options data.
//!
//! Times round-trip exactly: v5/v9 carry them as sysUpTime milliseconds against a boot time
//! fixed at the first export (one hour before it); IPFIX as epoch milliseconds. Absent values of
//! fields a template carries are sent as 0 (so they come back as 0), an absent end as the start.

mod layout;
mod templated;
mod v5;

use engine::FlowRecord;
use engine::addr::{Addr16, from_v4_bytes, is_v4};

use layout::Clock;

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// NetFlow v5.
    V5,
    /// NetFlow v9.
    V9,
    /// IPFIX (NetFlow v10).
    Ipfix,
}

/// How an [`Encoder`] exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Export format.
    pub format: Format,
    /// Observation domain (v9 source id; v5 engine type << 8 | engine id, low 16 bits).
    pub observation_domain: u32,
    /// Re-send templates every N datagrams (default 20).
    pub template_refresh_packets: u32,
    /// Sampling interval sent as options data (v9/IPFIX) or in the v5 header.
    pub sampling_interval: Option<u32>,
    /// Largest datagram in bytes (default 1400).
    pub max_datagram: usize,
}

impl EncoderConfig {
    /// Defaults for a format: domain 0, refresh every 20 datagrams, no sampling, 1400 bytes.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            observation_domain: 0,
            template_refresh_packets: 20,
            sampling_interval: None,
            max_datagram: 1400,
        }
    }
}

/// An exporter's encoder: keeps sequence numbers, the boot time and the template refresh count.
#[derive(Debug, Clone)]
pub struct Encoder {
    cfg: EncoderConfig,
    fields_v4: Vec<layout::Field>,
    fields_v6: Vec<layout::Field>,
    /// Datagrams produced.
    datagrams: u64,
    /// Next header sequence number (v5 flows, v9 datagrams, IPFIX data records).
    sequence: u32,
    /// Epoch ms of sysUpTime 0, fixed at the first export.
    boot_ms: Option<i64>,
}

/// One hour of uptime at the first export.
const UPTIME_AT_FIRST_EXPORT_MS: i64 = 3_600_000;

/// `true` if the flow is IPv6 (an address that is not IPv4-mapped).
pub(crate) fn is_v6(f: &FlowRecord) -> bool {
    f.src_addr.or(f.dst_addr).is_some_and(|a| !is_v4(&a))
}

impl Encoder {
    /// A new exporter.
    pub fn new(cfg: EncoderConfig) -> Self {
        let ipfix = cfg.format == Format::Ipfix;
        Self {
            cfg,
            fields_v4: layout::data_fields(ipfix, false),
            fields_v6: layout::data_fields(ipfix, true),
            datagrams: 0,
            sequence: 0,
            boot_ms: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    /// Appends datagrams carrying `flows` (templates first and refreshed per config) to `out`.
    /// `export_time_ms` is the header time. Sequence numbers advance correctly.
    pub fn encode(&mut self, flows: &[FlowRecord], export_time_ms: i64, out: &mut Vec<Vec<u8>>) {
        match self.cfg.format {
            Format::V5 => self.encode_v5(flows, export_time_ms, out),
            Format::V9 => {
                self.boot(export_time_ms.div_euclid(1000) * 1000);
                self.encode_templated(flows, export_time_ms, out);
            }
            Format::Ipfix => self.encode_templated(flows, export_time_ms, out),
        }
    }

    /// `true` if the format carries this flow (v5 carries IPv4 flows only).
    pub fn carries(&self, flow: &FlowRecord) -> bool {
        self.cfg.format != Format::V5 || !is_v6(flow)
    }

    /// Fixes the boot time at the first export and returns it.
    fn boot(&mut self, export_ms: i64) -> i64 {
        *self.boot_ms.get_or_insert(export_ms - UPTIME_AT_FIRST_EXPORT_MS)
    }

    fn clock(&self) -> Clock {
        match self.cfg.format {
            Format::Ipfix => Clock::Epoch,
            _ => Clock::Uptime {
                boot_ms: self.boot_ms.unwrap_or(0),
            },
        }
    }

    /// The record the decoder must produce for `flow` exported by this encoder from `exporter`
    /// (fields the format cannot carry become None, values truncated to the format's widths,
    /// sampling applied). For v5, only meaningful when [`carries`](Self::carries) is true.
    pub fn expected(&self, flow: &FlowRecord, exporter: [u8; 16]) -> FlowRecord {
        let f = flow;
        let v6 = is_v6(f);
        let addr = |a: Option<Addr16>| -> Option<Addr16> {
            let a = a.unwrap_or([0; 16]);
            Some(if v6 {
                a
            } else {
                from_v4_bytes([a[12], a[13], a[14], a[15]])
            })
        };
        let z16 = |v: Option<u16>| Some(v.unwrap_or(0));
        let z32 = |v: Option<u32>| Some(v.unwrap_or(0));
        let z8 = |v: Option<u8>| Some(v.unwrap_or(0));
        let mut e = FlowRecord {
            flow_start: f.flow_start,
            flow_end: Some(f.flow_end.unwrap_or(f.flow_start)),
            exporter,
            observation_domain: self.cfg.observation_domain,
            src_addr: addr(f.src_addr),
            dst_addr: addr(f.dst_addr),
            next_hop: addr(f.next_hop),
            src_port: z16(f.src_port),
            dst_port: z16(f.dst_port),
            protocol: z8(f.protocol),
            tcp_flags: Some(f.tcp_flags.unwrap_or(0)),
            tos: z8(f.tos),
            packets: Some(f.packets.unwrap_or(0)),
            bytes: Some(f.bytes.unwrap_or(0)),
            sampling_interval: None,
            input_if: z32(f.input_if),
            output_if: z32(f.output_if),
            src_as: z32(f.src_as),
            dst_as: z32(f.dst_as),
            src_mask: z8(f.src_mask),
            dst_mask: z8(f.dst_mask),
            vlan: z16(f.vlan),
            direction: z8(f.direction),
        };
        let sampling = self.cfg.sampling_interval.filter(|n| *n > 0);
        match self.cfg.format {
            Format::V5 => {
                e.observation_domain &= 0xffff;
                e.tcp_flags = e.tcp_flags.map(|v| v & 0xff);
                e.packets = e.packets.map(|v| v & 0xffff_ffff);
                e.bytes = e.bytes.map(|v| v & 0xffff_ffff);
                e.input_if = e.input_if.map(|v| v & 0xffff);
                e.output_if = e.output_if.map(|v| v & 0xffff);
                e.src_as = e.src_as.map(|v| v & 0xffff);
                e.dst_as = e.dst_as.map(|v| v & 0xffff);
                e.vlan = None;
                e.direction = None;
                e.sampling_interval = sampling.map(|n| n.min(0x3fff));
            }
            Format::V9 | Format::Ipfix => {
                if self.cfg.format == Format::V9 {
                    e.tcp_flags = e.tcp_flags.map(|v| v & 0xff);
                }
                if let Some(n) = sampling {
                    e.sampling_interval = Some(n);
                    e.packets = e.packets.map(|v| v.saturating_mul(u64::from(n)));
                    e.bytes = e.bytes.map(|v| v.saturating_mul(u64::from(n)));
                }
            }
        }
        e
    }
}

#[cfg(test)]
mod tests;
