//! Compiled filters run over a small flow table: which rows each filter selects.
//!
//! | id | flow                                     | proto | flags | tos | pkts | bytes     | ms   | if  | as            |
//! |----|------------------------------------------|-------|-------|-----|------|-----------|------|-----|---------------|
//! | 0  | 10.0.0.1:40000 -> 192.0.2.10:443         | 6     | AS    | 0   | 10   | 5000      | 1000 | 1 2 | 64512 15169   |
//! | 1  | 192.0.2.10:53 -> 10.0.0.2:53000          | 17    | -     | 40  | 1    | 80        | 0    | 2 1 | 15169 64512   |
//! | 2  | [2001:db8::1]:1234 -> [2001:db8:1::5]:8080 | 6   | S     | 184 | 1000 | 1000000   | 500  | 3 4 | 64520 64520   |
//! | 3  | 2001:db8:ffff::9 -> 2001:db8::1 (icmp6)  | 58    | -     | 0   | 3    | 300       | 2000 | 1 3 | 64520 64512   |
//! | 4  | everything absent (NULL)                 |       |       |     |      |           |      |     |               |
//! | 5  | 172.16.5.5:22 -> 10.0.0.1:51000          | 6     | R     | 0   | 2    | 120       | 10   | 2 3 | absent        |

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::UInt32Type;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::super::compile;
use crate::addr::from_ip;
use crate::{FlowBatchBuilder, FlowRecord, flow_schema};

const T0: i64 = 1_767_225_600_000;

fn ip(text: &str) -> Option<[u8; 16]> {
    Some(from_ip(text.parse::<IpAddr>().unwrap()))
}

#[allow(clippy::too_many_arguments)]
fn flow(
    id: u32,
    (src, sport, dst, dport): (&str, u16, &str, u16),
    protocol: u8,
    flags: u16,
    tos: u8,
    (packets, bytes, ms): (u64, u64, i64),
    (input, output): (u32, u32),
    asn: Option<(u32, u32)>,
) -> FlowRecord {
    FlowRecord {
        flow_start: T0,
        flow_end: Some(T0 + ms),
        exporter: from_ip("192.0.2.250".parse().unwrap()),
        observation_domain: id,
        src_addr: ip(src),
        dst_addr: ip(dst),
        src_port: Some(sport),
        dst_port: Some(dport),
        protocol: Some(protocol),
        tcp_flags: Some(flags),
        tos: Some(tos),
        packets: Some(packets),
        bytes: Some(bytes),
        input_if: Some(input),
        output_if: Some(output),
        src_as: asn.map(|a| a.0),
        dst_as: asn.map(|a| a.1),
        ..FlowRecord::default()
    }
}

fn flows() -> Vec<FlowRecord> {
    vec![
        flow(
            0,
            ("10.0.0.1", 40000, "192.0.2.10", 443),
            6,
            0x12,
            0,
            (10, 5000, 1000),
            (1, 2),
            Some((64512, 15169)),
        ),
        flow(
            1,
            ("192.0.2.10", 53, "10.0.0.2", 53000),
            17,
            0,
            40,
            (1, 80, 0),
            (2, 1),
            Some((15169, 64512)),
        ),
        flow(
            2,
            ("2001:db8::1", 1234, "2001:db8:1::5", 8080),
            6,
            0x02,
            184,
            (1000, 1_000_000, 500),
            (3, 4),
            Some((64520, 64520)),
        ),
        flow(
            3,
            ("2001:db8:ffff::9", 0, "2001:db8::1", 32768),
            58,
            0,
            0,
            (3, 300, 2000),
            (1, 3),
            Some((64520, 64512)),
        ),
        FlowRecord {
            flow_start: T0,
            exporter: from_ip("192.0.2.250".parse().unwrap()),
            observation_domain: 4,
            ..FlowRecord::default()
        },
        flow(
            5,
            ("172.16.5.5", 22, "10.0.0.1", 51000),
            6,
            0x04,
            0,
            (2, 120, 10),
            (2, 3),
            None,
        ),
    ]
}

/// The ids of the rows `filter` selects, in order.
async fn selected(filter: &str) -> Vec<u32> {
    let mut builder = FlowBatchBuilder::with_capacity(8);
    flows().iter().for_each(|f| builder.append(f));
    let table = MemTable::try_new(flow_schema(), vec![vec![builder.finish()]]).unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("flows", Arc::new(table)).unwrap();
    let expr = compile(filter).unwrap_or_else(|e| panic!("{filter:?}: {e}"));
    let batches = ctx
        .table("flows")
        .await
        .unwrap()
        .filter(expr)
        .unwrap()
        .select_columns(&["observation_domain"])
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{filter:?}: {e}"));
    let mut ids: Vec<u32> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<UInt32Type>().values().to_vec())
        .collect();
    ids.sort_unstable();
    ids
}

/// Asserts the rows each filter selects.
async fn check(cases: &[(&str, &[u32])]) {
    for (filter, expected) in cases {
        assert_eq!(selected(filter).await, *expected, "{filter}");
    }
}

#[tokio::test]
async fn addresses_and_networks() {
    check(&[
        ("any", &[0, 1, 2, 3, 4, 5]),
        ("ip 10.0.0.1", &[0, 5]),
        ("src host 10.0.0.1", &[0]),
        ("dst ip 10.0.0.1", &[5]),
        ("src net 10.0.0.0/8", &[0]),
        ("net 10.0.0.0 255.0.0.0", &[0, 1, 5]),
        ("net 2001:db8::/32", &[2, 3]),
        ("dst net 2001:db8:1::/48", &[2]),
        ("src and dst net 2001:db8::/32", &[2, 3]),
        ("ip in [192.0.2.10 2001:db8:ffff::/48]", &[0, 1, 3]),
        ("dst ip in [10.0.0.2, 2001:db8::1]", &[1, 3]),
        ("net 0.0.0.0/0", &[0, 1, 5]),
        ("net ::/0", &[0, 1, 2, 3, 5]),
        ("ipv4", &[0, 1, 5]),
        ("ipv6", &[2, 3]),
    ])
    .await;
}

#[tokio::test]
async fn ports_protocols_interfaces_and_as() {
    check(&[
        ("port 443", &[0]),
        ("src port 53", &[1]),
        ("port in [53 22]", &[1, 5]),
        ("src and dst port > 1000", &[2]),
        ("dst port >= 32768", &[1, 3, 5]),
        ("proto udp", &[1]),
        ("proto icmp6", &[3]),
        ("proto 6", &[0, 2, 5]),
        ("in if 1", &[0, 3]),
        ("out if 1", &[1]),
        ("if 1", &[0, 1, 3]),
        ("src as 64512", &[0]),
        ("as 64512", &[0, 1, 3]),
        ("dst as in [15169, 64520]", &[0, 2]),
        ("as > 64515", &[2, 3]),
    ])
    .await;
}

#[tokio::test]
async fn flags_follow_nfdump_under_not() {
    check(&[
        ("flags S", &[0, 2]),
        ("flags SA", &[0]),
        // not (tcp and any of S, A): UDP, ICMP6, absent flags and RST-only pass.
        ("not flags SA", &[1, 3, 4, 5]),
        ("flags S and not flags AFRPU", &[2]),
        ("not not flags SA", &[0]),
        ("flags 2", &[2]),
        ("flags > 16", &[0]),
        ("flags X", &[]),
    ])
    .await;
}

#[tokio::test]
async fn counters_and_rates() {
    check(&[
        ("tos > 0", &[1, 2]),
        ("tos 184", &[2]),
        ("packets > 1k", &[]),
        ("packets >= 1k", &[2]),
        ("bytes >= 1m", &[2]),
        ("bytes < 100", &[1]),
        ("duration > 999", &[0, 3]),
        ("duration = 0", &[1]),
        // 1000 packets in 500 ms; 2 in 10 ms; 10 in 1 s; 3 in 2 s; zero duration is 0 pps.
        ("pps > 1000", &[2]),
        ("pps = 200", &[5]),
        ("pps = 0", &[1]),
        ("pps = 1", &[3]),
        ("bps > 1m", &[2]),
        ("bps = 96k", &[5]),
        ("bpp >= 500", &[0, 2]),
        ("bpp = 60", &[5]),
        ("flows > 0", &[0, 1, 2, 3, 4, 5]),
        ("flows > 1", &[]),
        ("flows = 1", &[0, 1, 2, 3, 4, 5]),
    ])
    .await;
}

#[tokio::test]
async fn absent_values_fail_their_test_and_pass_its_negation() {
    check(&[
        ("not port 443", &[1, 2, 3, 4, 5]),
        ("not src as 64512", &[1, 2, 3, 4, 5]),
        ("src as 0", &[]),
        ("not (pps > 1000)", &[0, 1, 3, 4, 5]),
        ("not bpp >= 500", &[1, 3, 4, 5]),
        ("not duration = 0", &[0, 2, 3, 4, 5]),
        ("not ip 10.0.0.1", &[1, 2, 3, 4]),
        ("not (ipv4 or ipv6)", &[4]),
        ("not any", &[]),
    ])
    .await;
}

#[tokio::test]
async fn precedence_holds_over_data() {
    check(&[
        ("proto udp or proto tcp and port 22", &[1, 5]),
        ("(proto udp or proto tcp) and port 22", &[5]),
        ("not proto tcp and not proto udp", &[3, 4]),
        ("not (proto tcp or proto udp)", &[3, 4]),
        ("proto tcp && !(port 443 || port 22)", &[2]),
    ])
    .await;
}

#[test]
fn addresses_compile_to_prunable_comparisons() {
    let text = |filter: &str| compile(filter).unwrap().to_string();
    assert!(
        text("src net 10.0.0.0/8").starts_with("src_addr BETWEEN FixedSizeBinary(16, \""),
        "{}",
        text("src net 10.0.0.0/8")
    );
    assert!(text("dst ip 10.0.0.1").starts_with("dst_addr = FixedSizeBinary(16, \""));
    assert_eq!(text("src port 80"), "src_port = UInt16(80)");
    assert_eq!(text("packets > 1k"), "packets > UInt64(1000)");
    assert_eq!(
        text("not src port 80"),
        "NOT src_port IS NOT NULL AND src_port = UInt16(80)"
    );
    assert_eq!(text("proto tcp or flows > 1"), "protocol = UInt8(6) OR Boolean(false)");
}
