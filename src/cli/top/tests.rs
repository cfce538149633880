//! `flowfold top`'s query over a real data directory: the numbers of every group and the totals,
//! for each kind of stat, order, filter and time bound.

use std::net::IpAddr;

use engine::addr::from_ip;
use engine::clock::now_ms;
use engine::{FlowBatchBuilder, FlowRecord, FlowStore, SortKey, StoreConfig};
use tempfile::TempDir;

use super::query::TopQuery;
use super::rows::{Group, Totals, read};
use super::stat::{Order, Stat};
use crate::cli::sql::query;

/// Flows and their start (ms), all from exporter 10.9.9.9:
///
/// | flow | src → dst                  | ports      | proto | packets | bytes | start..end (ms) |
/// |------|----------------------------|------------|-------|---------|-------|-----------------|
/// | 1    | 10.0.0.1 → 10.0.0.2        | 1000 → 443 | TCP   | 10      | 1000  | 0..2000         |
/// | 2    | 10.0.0.1 → 10.0.0.3        | 1001 → 443 | TCP   | 20      | 3000  | 1000..5000      |
/// | 3    | 10.0.0.2 → 10.0.0.1        | 53 → 1000  | UDP   | 1       | 100   | 500..500        |
/// | 4    | 2001:db8::1 → 2001:db8::2  | 443 → 443  | TCP   | 5       | 2500  | 3000..4000      |
fn flow_dir() -> (TempDir, i64) {
    let t = (now_ms() - 3_600_000) / 1000 * 1000;
    let flow = |src: &str, dst: &str, ports: (u16, u16), protocol: u8, packets: u64, bytes: u64, span: (i64, i64)| {
        let addr = |text: &str| Some(from_ip(text.parse::<IpAddr>().unwrap()));
        FlowRecord {
            flow_start: t + span.0,
            flow_end: Some(t + span.1),
            exporter: from_ip([10, 9, 9, 9].into()),
            src_addr: addr(src),
            dst_addr: addr(dst),
            src_port: Some(ports.0),
            dst_port: Some(ports.1),
            protocol: Some(protocol),
            packets: Some(packets),
            bytes: Some(bytes),
            ..FlowRecord::default()
        }
    };
    let flows = [
        flow("10.0.0.1", "10.0.0.2", (1000, 443), 6, 10, 1000, (0, 2000)),
        flow("10.0.0.1", "10.0.0.3", (1001, 443), 6, 20, 3000, (1000, 5000)),
        flow("10.0.0.2", "10.0.0.1", (53, 1000), 17, 1, 100, (500, 500)),
        flow("2001:db8::1", "2001:db8::2", (443, 443), 6, 5, 2500, (3000, 4000)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        sort: SortKey::FlowStart,
        fsync_interval: std::time::Duration::ZERO,
        ..StoreConfig::new(dir.path())
    };
    let (mut store, _) = FlowStore::open(config).unwrap();
    let mut builder = FlowBatchBuilder::with_capacity(flows.len());
    flows.iter().for_each(|f| builder.append(f));
    store.append(&builder.finish()).unwrap();
    store.close().unwrap();
    (dir, t)
}

fn top(stat: Stat, order: Order) -> TopQuery {
    TopQuery {
        table: "flows".into(),
        stat,
        order,
        limit: 10,
        filter: None,
        since_ms: None,
        until_ms: None,
    }
}

async fn run(dir: &TempDir, q: &TopQuery) -> (Vec<Group>, Totals) {
    let batches = query(dir.path(), &q.sql())
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", q.sql()));
    read(&batches).unwrap()
}

/// `(value, flows, packets, bytes)` of each group, in order.
fn counts(groups: &[Group]) -> Vec<(String, i64, i64, i64)> {
    groups
        .iter()
        .map(|g| (g.val.clone().unwrap_or_default(), g.flows, g.packets, g.bytes))
        .collect()
}

fn row(val: &str, flows: i64, packets: i64, bytes: i64) -> (String, i64, i64, i64) {
    (val.to_string(), flows, packets, bytes)
}

#[tokio::test]
async fn source_addresses_with_nfdumps_rates_shares_and_totals() {
    let (dir, t) = flow_dir();
    let (groups, totals) = run(&dir, &top(Stat::Srcip, Order::Flows)).await;
    assert_eq!(
        counts(&groups),
        [
            row("10.0.0.1", 2, 30, 4000),
            row("10.0.0.2", 1, 1, 100),
            row("2001:db8::1", 1, 5, 2500)
        ]
    );
    let first = &groups[0];
    assert_eq!(
        (first.first_seen, first.last_seen, first.duration_ms),
        (t, t + 5000, 5000)
    );
    // 30 packets and 4000 bytes over 5 s; 4000 / 30 bytes per packet, rounded down.
    assert_eq!((first.pps, first.bps, first.bpp), (6, 6400, 133));
    assert_eq!(first.flows_pct, 50.0);
    assert_eq!(first.packets_pct, 100.0 * 30.0 / 36.0);
    assert_eq!(first.proto.as_deref(), Some("any"));
    // A zero duration has no rates.
    assert_eq!(
        (groups[1].duration_ms, groups[1].pps, groups[1].bps, groups[1].bpp),
        (0, 0, 0, 100)
    );
    // 36 packets and 6600 bytes from the first start to the last end, 5 s.
    let want = Totals {
        flows: 4,
        packets: 36,
        bytes: 6600,
        pps: 7,
        bps: 10_560,
        bpp: 183,
    };
    assert_eq!(totals, want);
}

#[tokio::test]
async fn either_side_stats_count_a_flow_twice_but_share_of_the_flows_once() {
    let (dir, _) = flow_dir();
    let (groups, totals) = run(&dir, &top(Stat::Port, Order::Flows)).await;
    // Flow 4 has 443 on both sides, so it counts twice under 443, as in nfdump.
    assert_eq!(
        counts(&groups),
        [
            row("443", 4, 40, 9000),
            row("1000", 2, 11, 1100),
            row("53", 1, 1, 100),
            row("1001", 1, 20, 3000)
        ]
    );
    assert_eq!(groups[0].flows_pct, 100.0);
    assert_eq!(groups[0].bytes_pct, 100.0 * 9000.0 / 6600.0);
    assert_eq!((totals.flows, totals.packets, totals.bytes), (4, 36, 6600));
    let (groups, _) = run(&dir, &top(Stat::Ip, Order::Packets)).await;
    assert_eq!(counts(&groups)[0], row("10.0.0.1", 3, 31, 4100));
}

#[tokio::test]
async fn orders_filters_and_time_bounds() {
    let (dir, t) = flow_dir();
    let (groups, _) = run(&dir, &top(Stat::Dstip, Order::Bytes)).await;
    let order: Vec<String> = counts(&groups).into_iter().map(|r| r.0).collect();
    assert_eq!(order, ["10.0.0.3", "2001:db8::2", "10.0.0.2", "10.0.0.1"]);
    let (groups, _) = run(&dir, &top(Stat::Dstip, Order::Bps)).await;
    let rates: Vec<(String, i64)> = groups.iter().map(|g| (g.val.clone().unwrap(), g.bps)).collect();
    let want = [
        ("2001:db8::2", 20_000),
        ("10.0.0.3", 6000),
        ("10.0.0.2", 4000),
        ("10.0.0.1", 0),
    ];
    assert_eq!(rates, want.map(|(v, r)| (v.to_string(), r)));

    let tcp = TopQuery {
        filter: Some("proto tcp and not src host 2001:db8::1".into()),
        limit: 1,
        ..top(Stat::Proto, Order::Flows)
    };
    let (groups, totals) = run(&dir, &tcp).await;
    assert_eq!(counts(&groups), [row("6", 2, 30, 4000)]);
    assert_eq!(groups[0].proto.as_deref(), Some("TCP"));
    assert_eq!((totals.flows, totals.packets, totals.bytes), (2, 30, 4000));

    let window = TopQuery {
        since_ms: Some(t + 1000),
        until_ms: Some(t + 3000),
        ..top(Stat::Srcport, Order::Flows)
    };
    let (groups, _) = run(&dir, &window).await;
    assert_eq!(counts(&groups), [row("1001", 1, 20, 3000)]);

    let channel = TopQuery {
        table: "exporter_10_9_9_9".into(),
        ..top(Stat::Exporter, Order::Flows)
    };
    let (groups, _) = run(&dir, &channel).await;
    assert_eq!(counts(&groups), [row("10.9.9.9", 4, 36, 6600)]);
}

#[tokio::test]
async fn no_flow_passing_gives_no_groups_and_zero_totals() {
    let (dir, _) = flow_dir();
    let none = TopQuery {
        filter: Some("proto icmp".into()),
        ..top(Stat::Srcas, Order::Bpp)
    };
    let (groups, totals) = run(&dir, &none).await;
    assert!(groups.is_empty());
    assert_eq!(totals, Totals::default());
}

#[tokio::test]
async fn a_bad_filter_is_reported_with_its_position() {
    let (dir, _) = flow_dir();
    let bad = TopQuery {
        filter: Some("proto tcp and port http".into()),
        ..top(Stat::Srcip, Order::Flows)
    };
    let err = query(dir.path(), &bad.sql()).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("nfdump(): at 19: expected a port number after 'port', found 'http'"),
        "{err:#}"
    );
}

/// `flowfold top` flags as clap parses them.
fn flags(line: &[&str]) -> Result<super::TopArgs, String> {
    #[derive(Debug, clap::Parser)]
    struct Top {
        #[command(flatten)]
        args: super::TopArgs,
    }
    let argv = std::iter::once("top").chain(line.iter().copied());
    <Top as clap::Parser>::try_parse_from(argv)
        .map(|t| t.args)
        .map_err(|e| e.to_string())
}

#[test]
fn bad_flags_are_refused_naming_the_flag() {
    let check = |line: &[&str]| {
        super::top_query(&flags(line).unwrap())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(check(&["--data", "d", "-s", "ip"]), Ok(()));
    assert_eq!(check(&["--data", "d", "-s", "ip", "--profile", "daily"]), Ok(()));
    let err = check(&["--data", "d", "-s", "ip", "--profile", "Daily."]).unwrap_err();
    assert!(err.contains("--profile 'Daily.' is not a profile name"), "{err}");
    let err = check(&["--data", "d", "-s", "ip", "--channel", "flows; DROP"]).unwrap_err();
    assert!(
        err.contains("--channel 'flows; DROP' is not a table name of profile live"),
        "{err}"
    );
    let err = check(&["--data", "d", "-s", "ip", "--filter", "proto tcp and port http"]).unwrap_err();
    assert_eq!(
        err,
        "--filter 'proto tcp and port http': at 19: expected a port number after 'port', found 'http'"
    );
    let err = check(&[
        "--data",
        "d",
        "-s",
        "ip",
        "--since",
        "2026-11-22T10:00:00Z",
        "--until",
        "2026-11-22 10:00:00",
    ]);
    assert_eq!(err.unwrap_err(), "--since must be before --until");

    let parsed = flags(&[
        "--connect",
        "h:1",
        "-s",
        "dstport",
        "--since",
        "2026-11-22T12:00:00+02:00",
    ])
    .unwrap();
    assert_eq!(parsed.since, Some(1_795_341_600_000)); // 10:00 UTC
    assert_eq!((parsed.order, parsed.limit), (Order::Flows, 10));
    let err = flags(&["--data", "d", "-s", "ip", "--until", "last week"]).unwrap_err();
    assert!(err.contains("'last week' is not a time: give RFC 3339"), "{err}");
    let err = flags(&["--data", "d", "-s", "nhip"]).unwrap_err();
    assert!(err.contains("invalid value 'nhip' for '--stat <STAT>'"), "{err}");
    assert!(flags(&["-s", "ip"]).is_err(), "a source is required");
    assert_eq!(flags(&["--data", "d", "-s", "router"]).unwrap().stat, Stat::Exporter);
}
