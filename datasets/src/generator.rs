//! A deterministic flow generator: the same [`GenConfig`] (seed included) gives the same flows,
//! in the same order, on every run.
//!
//! K exporters (exporter `i` has address `exporter_base + i` and format `formats[i % n]`) see
//! flows between Zipf-ranked hosts (a few thousand IPv4 hosts in a handful of /16s, IPv6 hosts in
//! one /48; never IPv6 on a NetFlow v5 exporter), to Zipf-ranked services (443 first) from
//! ephemeral ports, with a TCP/UDP/ICMP mix of about 75/22/3 %, log-normal packet counts and
//! packet sizes of 40..1500 bytes. Flow `j` of `n` ends at `start_ms + span_ms * j / n` (or at the
//! clock set with [`Generator::set_clock`]) and starts up to 60 s earlier.
//!
//! Nothing is allocated per flow: all tables are built in [`Generator::new`].

mod alias;
mod catalog;
mod error;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use engine::FlowRecord;
use engine::addr::{Addr16, from_v4_u32};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use alias::AliasTable;
use catalog::{Hosts, Weighted};
pub use error::DatasetError;

/// Longest flow duration generated (an active timeout of 60 s).
pub const MAX_DURATION_MS: i64 = 60_000;
/// Largest packet count of one flow (keeps bytes within 32 bits for NetFlow v5).
pub const MAX_PACKETS: u64 = 1_000_000;
/// Share of flows that run server -> client.
const REVERSE_SHARE: f64 = 0.3;

/// The export protocol an exporter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// NetFlow v5 (IPv4 only, fixed record).
    V5,
    /// NetFlow v9 (templates).
    V9,
    /// IPFIX (RFC 7011).
    Ipfix,
}

impl ExportFormat {
    /// The lower-case name used on the command line and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::V5 => "v5",
            Self::V9 => "v9",
            Self::Ipfix => "ipfix",
        }
    }

    /// Parses a comma-separated list such as `v9,ipfix,v5`.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, DatasetError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ExportFormat {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v5" | "5" | "netflow5" => Ok(Self::V5),
            "v9" | "9" | "netflow9" => Ok(Self::V9),
            "ipfix" | "v10" | "10" => Ok(Self::Ipfix),
            _ => Err(DatasetError::UnknownFormat { name: s.to_string() }),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Seed of the one random stream.
    pub seed: u64,
    /// Number of exporters (K).
    pub exporters: usize,
    /// Total flows; 0 = unbounded.
    pub flows: u64,
    /// End time of the first flow, ms since the epoch.
    pub start_ms: i64,
    /// Flow end times spread over this many ms (per million flows when unbounded).
    pub span_ms: i64,
    /// Target share of IPv6 flows over all flows (v5 exporters get none; others get more).
    pub v6_share: f64,
    /// Export formats, assigned round-robin: exporter `i` speaks `formats[i % len]`.
    pub formats: Vec<ExportFormat>,
    /// Address of exporter 0; exporter `i` is `exporter_base + i`.
    pub exporter_base: Ipv4Addr,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            exporters: 4,
            flows: 1_000_000,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            span_ms: 300_000,
            v6_share: 0.10,
            formats: vec![ExportFormat::V9, ExportFormat::Ipfix, ExportFormat::V5],
            exporter_base: Ipv4Addr::new(127, 0, 1, 1),
        }
    }
}

/// One exporter of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExporterSpec {
    /// Position in the run (`0..K`).
    pub index: usize,
    /// Source address the exporter sends from, and its `exporter` value.
    pub addr: Ipv4Addr,
    /// Export protocol.
    pub format: ExportFormat,
    /// Observation domain (v9 source id, IPFIX domain): `index + 1`.
    pub observation_domain: u32,
    /// Number of interfaces (`input_if`/`output_if` are `1..=interfaces`).
    pub interfaces: u32,
}

impl ExporterSpec {
    /// The stored (16-byte) form of the exporter address.
    pub fn addr16(&self) -> Addr16 {
        from_v4_u32(u32::from(self.addr))
    }
}

/// Per-exporter tables.
#[derive(Debug, Clone)]
struct ExporterState {
    addr: Addr16,
    domain: u32,
    v6_prob: f64,
    ifaces: AliasTable,
    next_hop_v4: [Addr16; 4],
    next_hop_v6: [Addr16; 4],
}

/// Tables shared by all exporters.
#[derive(Debug, Clone)]
struct Tables {
    hosts: Hosts,
    exporters: AliasTable,
    tcp_ports: Weighted<u16>,
    udp_ports: Weighted<u16>,
    icmp4: Weighted<u16>,
    icmp6: Weighted<u16>,
    flags: Weighted<u16>,
    flags_one: Weighted<u16>,
    tos: Weighted<u8>,
    tcp_packets: LogNormal<f64>,
    udp_packets: LogNormal<f64>,
    icmp_packets: LogNormal<f64>,
}

/// The generator: an iterator of [`FlowRecord`]s (see the module docs).
#[derive(Debug, Clone)]
pub struct Generator {
    cfg: GenConfig,
    specs: Vec<ExporterSpec>,
    states: Vec<ExporterState>,
    tables: Tables,
    rng: SmallRng,
    produced: u64,
    clock_ms: Option<i64>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> DatasetError {
    DatasetError::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

fn validate(cfg: &GenConfig) -> Result<(), DatasetError> {
    if cfg.exporters == 0 {
        return Err(invalid("exporters", "at least one exporter is needed"));
    }
    if cfg.formats.is_empty() {
        return Err(invalid("formats", "at least one export format is needed"));
    }
    if !(0.0..=1.0).contains(&cfg.v6_share) {
        return Err(invalid("v6_share", format!("{} is not within 0..=1", cfg.v6_share)));
    }
    if cfg.span_ms < 0 {
        return Err(invalid("span_ms", "must not be negative"));
    }
    let last = u64::from(u32::from(cfg.exporter_base)) + cfg.exporters as u64 - 1;
    if last > u64::from(u32::MAX) || cfg.exporters > 65_535 {
        return Err(invalid(
            "exporters",
            format!(
                "{} exporters from {} run past the address space",
                cfg.exporters, cfg.exporter_base
            ),
        ));
    }
    Ok(())
}

fn lognormal(mu: f64, sigma: f64) -> LogNormal<f64> {
    LogNormal::new(mu, sigma).expect("constant parameters are valid")
}

impl Generator {
    /// A generator for `cfg`; fails on an invalid configuration.
    pub fn new(cfg: GenConfig) -> Result<Self, DatasetError> {
        validate(&cfg)?;
        let k = cfg.exporters;
        let base = u32::from(cfg.exporter_base);
        let specs: Vec<ExporterSpec> = (0..k)
            .map(|i| ExporterSpec {
                index: i,
                addr: Ipv4Addr::from(base + i as u32),
                format: cfg.formats[i % cfg.formats.len()],
                observation_domain: i as u32 + 1,
                interfaces: 8 + (i as u32 * 7) % 41,
            })
            .collect();
        // Exporters are mildly skewed (Zipf 0.5), so "top exporters" means something.
        let weights: Vec<f64> = (1..=k).map(|r| (r as f64).powf(-0.5)).collect();
        let exporters = AliasTable::new(&weights).ok_or_else(|| invalid("exporters", "no weights"))?;
        let total: f64 = weights.iter().sum();
        let v6_capable: f64 = specs
            .iter()
            .filter(|s| s.format != ExportFormat::V5)
            .map(|s| weights[s.index])
            .sum();
        // Raise the v6 probability of v6-capable exporters so the overall share is v6_share.
        let v6_prob = if v6_capable > 0.0 {
            (cfg.v6_share * total / v6_capable).min(1.0)
        } else {
            0.0
        };
        let states = specs
            .iter()
            .map(|s| {
                let i = s.index as u32;
                let nh4 = |h: u32| from_v4_u32(u32::from_be_bytes([10, 255, (i & 0xff) as u8, h as u8]));
                let nh6 = |h: u32| {
                    let mut a = [0u8; 16];
                    a[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0xff, 0xff]);
                    a[12..].copy_from_slice(&(i * 16 + h).to_be_bytes());
                    a
                };
                Ok(ExporterState {
                    addr: s.addr16(),
                    domain: s.observation_domain,
                    v6_prob: if s.format == ExportFormat::V5 { 0.0 } else { v6_prob },
                    ifaces: AliasTable::zipf(s.interfaces as usize, 0.8)
                        .ok_or_else(|| invalid("interfaces", "none"))?,
                    next_hop_v4: [nh4(1), nh4(2), nh4(3), nh4(4)],
                    next_hop_v6: [nh6(1), nh6(2), nh6(3), nh6(4)],
                })
            })
            .collect::<Result<Vec<_>, DatasetError>>()?;
        let tables = Tables {
            hosts: Hosts::build(),
            exporters,
            tcp_ports: Weighted::new(&catalog::TCP_SERVICES),
            udp_ports: Weighted::new(&catalog::UDP_SERVICES),
            icmp4: Weighted::new(&catalog::ICMP_V4),
            icmp6: Weighted::new(&catalog::ICMP_V6),
            flags: Weighted::new(&catalog::TCP_FLAGS),
            flags_one: Weighted::new(&catalog::TCP_FLAGS_ONE),
            tos: Weighted::new(&catalog::TOS),
            tcp_packets: lognormal(1.8, 1.5),
            udp_packets: lognormal(0.6, 1.2),
            icmp_packets: lognormal(0.3, 0.7),
        };
        let rng = SmallRng::seed_from_u64(cfg.seed);
        Ok(Self {
            cfg,
            specs,
            states,
            tables,
            rng,
            produced: 0,
            clock_ms: None,
        })
    }

    /// The exporters of this run, by index.
    pub fn exporters(&self) -> &[ExporterSpec] {
        &self.specs
    }

    /// The configuration this generator was built from.
    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// Flows produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// From now on, flows end at `now_ms` (wall-clock mode for continuous sending).
    pub fn set_clock(&mut self, now_ms: i64) {
        self.clock_ms = Some(now_ms);
    }

    /// Index of the exporter a generated record belongs to (from its address).
    pub fn exporter_index(&self, rec: &FlowRecord) -> Option<usize> {
        let a = &rec.exporter;
        let v4 = u32::from_be_bytes([a[12], a[13], a[14], a[15]]);
        let i = v4.checked_sub(u32::from(self.cfg.exporter_base))? as usize;
        (i < self.states.len() && self.states[i].addr == *a).then_some(i)
    }

    /// The next flow and the index of its exporter; `None` once `flows` have been produced.
    #[inline]
    pub fn next_flow(&mut self) -> Option<(usize, FlowRecord)> {
        if self.cfg.flows != 0 && self.produced >= self.cfg.flows {
            return None;
        }
        let end = match self.clock_ms {
            Some(now) => now,
            None => {
                let per = if self.cfg.flows == 0 { 1_000_000 } else { self.cfg.flows };
                let off = i128::from(self.cfg.span_ms) * i128::from(self.produced) / i128::from(per);
                self.cfg.start_ms.saturating_add(off as i64)
            }
        };
        self.produced += 1;
        let e = self.tables.exporters.sample(&mut self.rng);
        Some((e, make_flow(&mut self.rng, &self.tables, &self.states[e], end)))
    }

    /// Fills `out` from the front; returns how many records were written (less at the end).
    pub fn fill(&mut self, out: &mut [FlowRecord]) -> usize {
        for (n, slot) in out.iter_mut().enumerate() {
            match self.next_flow() {
                Some((_, rec)) => *slot = rec,
                None => return n,
            }
        }
        out.len()
    }
}

impl Iterator for Generator {
    type Item = FlowRecord;

    fn next(&mut self) -> Option<FlowRecord> {
        self.next_flow().map(|(_, r)| r)
    }
}

/// One flow of exporter `ex` ending at `end_ms`.
#[inline]
fn make_flow(rng: &mut SmallRng, t: &Tables, ex: &ExporterState, end_ms: i64) -> FlowRecord {
    let v6 = ex.v6_prob > 0.0 && rng.random::<f64>() < ex.v6_prob;
    let p: f64 = rng.random();
    let (protocol, packets_dist) = if p < 0.75 {
        (6u8, &t.tcp_packets)
    } else if p < 0.97 {
        (17, &t.udp_packets)
    } else if v6 {
        (58, &t.icmp_packets)
    } else {
        (1, &t.icmp_packets)
    };
    let (client, server) = if v6 {
        (t.hosts.v6_clients.sample(rng), t.hosts.v6_servers.sample(rng))
    } else {
        (t.hosts.v4_clients.sample(rng), t.hosts.v4_servers.sample(rng))
    };
    let packets = (packets_dist.sample(rng).round() as u64).clamp(1, MAX_PACKETS);
    let ephemeral: u16 = rng.random_range(32_768..=60_999);
    let (service, size) = match protocol {
        6 if packets <= 3 => (t.tcp_ports.sample(rng), rng.random_range(40..=80u64)),
        6 => (t.tcp_ports.sample(rng), rng.random_range(52..=1500u64)),
        17 => (t.udp_ports.sample(rng), rng.random_range(60..=1400u64)),
        58 => (t.icmp6.sample(rng), rng.random_range(64..=128u64)),
        _ => (t.icmp4.sample(rng), rng.random_range(64..=128u64)),
    };
    let reverse = protocol != 1 && protocol != 58 && rng.random::<f64>() < REVERSE_SHARE;
    let (src, dst, src_port, dst_port) = match (protocol, reverse) {
        (1 | 58, _) => (client, server, 0, service),
        (_, false) => (client, server, ephemeral, service),
        (_, true) => (server, client, service, ephemeral),
    };
    let tcp_flags = match protocol {
        6 if packets == 1 => t.flags_one.sample(rng),
        6 => t.flags.sample(rng),
        _ => 0,
    };
    let duration = if packets == 1 {
        0
    } else {
        let gap = rng.random_range(1..=40i64);
        ((packets - 1) as i64).saturating_mul(gap).min(MAX_DURATION_MS)
    };
    let n_if = ex.ifaces.len() as u32;
    let input_if = ex.ifaces.sample(rng) as u32 + 1;
    let mut output_if = ex.ifaces.sample(rng) as u32 + 1;
    if output_if == input_if {
        output_if = input_if % n_if + 1;
    }
    let hop = (output_if % 4) as usize;
    let bits = rng.next_u32();
    FlowRecord {
        flow_start: end_ms - duration,
        flow_end: Some(end_ms),
        exporter: ex.addr,
        observation_domain: ex.domain,
        src_addr: Some(src.addr),
        dst_addr: Some(dst.addr),
        next_hop: Some(if v6 { ex.next_hop_v6[hop] } else { ex.next_hop_v4[hop] }),
        src_port: Some(src_port),
        dst_port: Some(dst_port),
        protocol: Some(protocol),
        tcp_flags: Some(tcp_flags),
        tos: Some(t.tos.sample(rng)),
        packets: Some(packets),
        bytes: Some(packets * size),
        sampling_interval: None,
        input_if: Some(input_if),
        output_if: Some(output_if),
        src_as: Some(src.asn),
        dst_as: Some(dst.asn),
        src_mask: Some(src.mask),
        dst_mask: Some(dst.mask),
        vlan: Some(100 + (input_if as u16 & 0x3f)),
        direction: Some(u8::from(bits.is_multiple_of(8))),
    }
}

#[cfg(test)]
mod tests;
