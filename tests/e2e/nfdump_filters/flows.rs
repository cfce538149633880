//! The flows of the conformance test, exported to a real nfcapd: the generator's flows from two
//! exporters (NetFlow v9 and IPFIX), and hand-made IPFIX flows at the edges the filters probe
//! (counters around 1k/1m/1g, zero and exact durations, every TCP flag, rare protocols, 32-bit
//! AS numbers, documentation addresses).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use datasets::encode::{Encoder, EncoderConfig, Format};
use datasets::generator::{ExportFormat, GenConfig, Generator};
use datasets::send::{SendConfig, run};
use engine::FlowRecord;
use engine::addr::from_ip;

/// Generated flows sent.
pub const GENERATED: u64 = 20_000;

/// Sends every flow to `target`; returns how many were sent.
pub fn export(target: SocketAddr) -> anyhow::Result<u64> {
    let mut generator = Generator::new(GenConfig {
        seed: 61,
        exporters: 2,
        flows: GENERATED,
        v6_share: 0.15,
        formats: vec![ExportFormat::V9, ExportFormat::Ipfix],
        ..GenConfig::default()
    })?;
    let send = SendConfig {
        rate: 40_000,
        ..SendConfig::new(target)
    };
    let report = run(&mut generator, &send, None, &AtomicBool::new(false))?;
    anyhow::ensure!(report.send_errors == 0, "sending failed: {report:?}");
    anyhow::ensure!(report.flows == GENERATED, "sent {} of {GENERATED} flows", report.flows);
    let edges = edge_flows();
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let mut encoder = Encoder::new(EncoderConfig {
        observation_domain: 99,
        ..EncoderConfig::new(Format::Ipfix)
    });
    let newest = edges.iter().filter_map(|f| f.flow_end).max().unwrap_or(0);
    let mut datagrams = Vec::new();
    encoder.encode(&edges, newest, &mut datagrams);
    for datagram in datagrams {
        socket.send_to(&datagram, target)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(GENERATED + edges.len() as u64)
}

/// One hand-made flow.
struct Edge {
    src: &'static str,
    dst: &'static str,
    ports: (u16, u16),
    protocol: u8,
    flags: u16,
    tos: u8,
    packets: u64,
    bytes: u64,
    duration_ms: i64,
    interfaces: (u32, u32),
    asn: (u32, u32),
}

impl Edge {
    const fn tcp(packets: u64, bytes: u64, duration_ms: i64) -> Self {
        Self {
            src: "198.51.100.7",
            dst: "203.0.113.9",
            ports: (40_000, 443),
            protocol: 6,
            flags: 0x1b,
            tos: 0,
            packets,
            bytes,
            duration_ms,
            interfaces: (1, 2),
            asn: (64_496, 64_497),
        }
    }
}

/// The hand-made flows, ending a minute after the generator's first flow.
fn edge_flows() -> Vec<FlowRecord> {
    let base = Edge::tcp(1, 60, 0);
    let edges = [
        Edge::tcp(1000, 1_000_000, 1000),
        Edge::tcp(1001, 1_000_001, 999),
        Edge::tcp(1024, 1_048_576, 1001),
        Edge::tcp(999, 999_999, 0),
        Edge::tcp(5, 1_000_000_000, 8000),
        Edge::tcp(7, 1_000_000_001, 8000),
        Edge::tcp(1, 1000, 1000),
        Edge {
            flags: 0x3f,
            tos: 255,
            ..Edge::tcp(6, 360, 50)
        },
        Edge { flags: 0x20, ..base },
        Edge { flags: 0xc2, ..base },
        Edge { flags: 0x00, ..base },
        Edge {
            protocol: 47,
            ports: (0, 0),
            flags: 0,
            ..Edge::tcp(10, 4000, 100)
        },
        Edge {
            src: "2001:db8:ffff::1",
            dst: "2001:db8:ffff:1::2",
            protocol: 50,
            ports: (0, 0),
            flags: 0,
            ..Edge::tcp(10, 4000, 100)
        },
        Edge {
            protocol: 1,
            ports: (0, 8 << 8),
            flags: 0,
            ..Edge::tcp(1, 84, 0)
        },
        Edge {
            ports: (0, 65_535),
            interfaces: (70_000, 0),
            asn: (0, 0),
            ..Edge::tcp(3, 180, 20)
        },
        Edge {
            src: "2001:db8:ffff::8000:0:0:1",
            dst: "2001:db8:ffff:1::2",
            ports: (443, 50_000),
            asn: (4_200_000_000, 64_497),
            ..Edge::tcp(40, 50_000, 300)
        },
        Edge {
            src: "198.51.100.200",
            dst: "198.51.100.7",
            ..Edge::tcp(2, 120, 5)
        },
    ];
    let start = GenConfig::default().start_ms + 60_000;
    edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let ip = |text: &str| text.parse::<IpAddr>().map(from_ip).ok();
            let end = start + i as i64;
            FlowRecord {
                flow_start: end - e.duration_ms,
                flow_end: Some(end),
                exporter: from_ip([127, 0, 0, 1].into()),
                observation_domain: 99,
                src_addr: ip(e.src),
                dst_addr: ip(e.dst),
                next_hop: ip(if e.src.contains(':') { "::" } else { "0.0.0.0" }),
                src_port: Some(e.ports.0),
                dst_port: Some(e.ports.1),
                protocol: Some(e.protocol),
                tcp_flags: Some(e.flags),
                tos: Some(e.tos),
                packets: Some(e.packets),
                bytes: Some(e.bytes),
                input_if: Some(e.interfaces.0),
                output_if: Some(e.interfaces.1),
                src_as: Some(e.asn.0),
                dst_as: Some(e.asn.1),
                src_mask: Some(0),
                dst_mask: Some(0),
                ..FlowRecord::default()
            }
        })
        .collect()
}
