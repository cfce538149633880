//! A proxy in the round-robin model: the generator's exporters (NetFlow v9 and IPFIX with sampling
//! announced as options data, NetFlow v5 with the header's sampling field) send to the proxy,
//! which spreads every exporter's records over three slaves (`flowfold slave`, relay ports) and
//! sends templates and options records to all of them. Over the three slaves, every exporter's
//! totals must be the generator's ground truth, every exporter must be on every slave under its
//! own address, sampled and with no sequence gap, and the slaves' shares must differ by at most
//! 5%. softflowd's IPFIX goes the same way.

use std::collections::BTreeMap;
use std::time::Duration;

use flowfold_tests::master::ProxyNode;
use flowfold_tests::node::Standalone;
use serde_json::Value;

use crate::{flowfold, generate};

const FLOWS: u64 = 30_000;
const SAMPLING: u64 = 8;

/// `exporter -> [flows, packets, bytes]` of rows with those columns.
fn totals(rows: &[Value]) -> BTreeMap<String, [u64; 3]> {
    rows.iter()
        .map(|r| {
            let get = |k: &str| r[k].as_u64().unwrap_or(0);
            let exporter = r["exporter"].as_str().unwrap_or_default().to_string();
            (exporter, [get("flows"), get("packets"), get("bytes")])
        })
        .collect()
}

const PER_EXPORTER: &str = "SELECT ip_text(exporter) AS exporter, count(*) AS flows, sum(packets) AS packets, \
                            sum(bytes) AS bytes FROM flows GROUP BY exporter";

/// Three slaves on 127.0.0.NET+1..3 behind a round-robin proxy on 127.0.0.NET.
fn round_robin_site(dir: &std::path::Path, net: u8) -> anyhow::Result<([Standalone; 3], ProxyNode)> {
    let bin = flowfold();
    let host = |i: u8| format!("127.0.0.{}", net + i);
    let slaves = [
        Standalone::start_slave(bin, &dir.join("s1"), "s1", &host(1))?,
        Standalone::start_slave(bin, &dir.join("s2"), "s2", &host(2))?,
        Standalone::start_slave(bin, &dir.join("s3"), "s3", &host(3))?,
    ];
    let relays: Vec<String> = slaves.iter().map(|s| s.ready.relays[0].to_string()).collect();
    let flows = format!("{}:0", host(0));
    let mut flags = vec!["--flows", flows.as_str(), "--model", "round-robin"];
    for relay in &relays {
        flags.extend(["--slave", relay.as_str()]);
    }
    let proxy = ProxyNode::start_with(bin, dir, "p", &host(0), &flags)?;
    Ok((slaves, proxy))
}

/// Per slave, its per-exporter totals once the slaves hold `want` flows in all.
fn stored(slaves: &[Standalone], want: u64) -> anyhow::Result<Vec<BTreeMap<String, [u64; 3]>>> {
    let mut per_slave = Vec::new();
    let mut sum = 0;
    flowfold_tests::wait_for("every flow stored on the slaves", Duration::from_secs(60), || {
        per_slave = slaves
            .iter()
            .map(|s| s.sql_remote(PER_EXPORTER).map(|rows| totals(&rows)))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        sum = per_slave.iter().flat_map(|t| t.values()).map(|t| t[0]).sum::<u64>();
        (sum == want).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}: {sum} of {want} flows stored"))?;
    Ok(per_slave)
}

/// The sum over slaves of their per-exporter totals.
fn summed(per_slave: &[BTreeMap<String, [u64; 3]>]) -> BTreeMap<String, [u64; 3]> {
    let mut all: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for slave in per_slave {
        for (exporter, t) in slave {
            let e = all.entry(exporter.clone()).or_default();
            for i in 0..3 {
                e[i] += t[i];
            }
        }
    }
    all
}

#[test]
fn a_round_robin_proxy_spreads_every_exporter_over_all_slaves() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (slaves, proxy) = round_robin_site(dir.path(), 80)?;
    let truth = dir.path().join("truth.parquet");
    let summary = generate(&[
        "--target",
        &proxy.flows[0].to_string(),
        "--exporters",
        "6",
        "--formats",
        "v9,ipfix,v5",
        "--flows",
        &FLOWS.to_string(),
        "--rate",
        "50000",
        "--seed",
        "41",
        "--sampling-interval",
        &SAMPLING.to_string(),
        "--truth",
        truth.to_str().expect("utf-8 path"),
    ])?;
    assert_eq!(summary["flows"].as_u64(), Some(FLOWS), "{summary}");
    let per_slave = stored(&slaves, FLOWS)?;

    // Over the slaves, every exporter's totals are the ground truth (packets and bytes scaled
    // by the sampling interval, so every slave had the options data before the records).
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(truth.with_extension("json"))?)?;
    let want = totals(truth["exporters"].as_array().map(Vec::as_slice).unwrap_or(&[]));
    assert_eq!(want.len(), 6, "{truth}");
    assert_eq!(summed(&per_slave), want, "per-exporter totals over the slaves");

    // Every exporter on every slave, under its own address; the largest and the smallest share
    // differ by at most 5% (of the smallest).
    let counts: Vec<u64> = per_slave.iter().map(|t| t.values().map(|v| v[0]).sum()).collect();
    let (least, most) = (
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    );
    assert!(
        least > 0 && (most - least) as f64 <= 0.05 * least as f64,
        "the slaves' shares differ by more than 5%: {counts:?}"
    );
    for (i, slave) in per_slave.iter().enumerate() {
        assert_eq!(
            slave.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "slave {i} holds every exporter"
        );
    }
    for (i, slave) in slaves.iter().enumerate() {
        let rows = slave.sql_remote(&format!(
            "SELECT count(*) AS n FROM flows WHERE sampling_interval = {SAMPLING}"
        ))?;
        assert_eq!(rows[0]["n"].as_u64(), Some(counts[i]), "slave {i}: every flow sampled");
        // Each slave's sequence numbers are its own and unbroken.
        assert_eq!(
            slave.metric_sum("flowfold_sequence_missing_total", &[])?,
            0.0,
            "slave {i}"
        );
    }

    // The proxy counted what it spread; there is nothing to rebalance.
    let metrics = flowfold_tests::http_get(proxy.http, "/metrics")?;
    let distributed = flowfold_tests::node::sum_metric(&metrics, "flowfold_relay_records_distributed_total", &[]);
    assert_eq!(distributed, FLOWS as f64, "{metrics}");
    assert_eq!(
        flowfold_tests::node::sum_metric(&metrics, "flowfold_relay_malformed_total", &[]),
        0.0
    );
    assert!(flowfold_tests::node::sum_metric(&metrics, "flowfold_relay_broadcast_records_total", &[]) > 0.0);
    let refused = flowfold_tests::http(proxy.http, "POST", "/rebalance?exporter=127.0.1.1&slave=1")?;
    assert!(
        refused.starts_with("HTTP/1.1 409") && refused.contains("round-robin"),
        "{refused}"
    );
    Ok(())
}

/// softflowd (software we did not write) exports a capture as IPFIX to a round-robin proxy: the
/// slaves together hold the capture's own totals, each a part of them, all under softflowd's
/// address.
#[test]
fn softflowd_through_a_round_robin_proxy_equals_the_capture() -> anyhow::Result<()> {
    crate::require("softflowd");
    let dir = tempfile::tempdir()?;
    let (pcap, capture) = flowfold_tests::pcap::recent_capture(dir.path(), 300)?;
    let (slaves, proxy) = round_robin_site(dir.path(), 90)?;
    flowfold_tests::peers::softflowd_replay(&pcap, proxy.flows[0], 10, dir.path())?;

    let per_slave = stored(&slaves, capture.flows)?;
    let all = summed(&per_slave);
    assert_eq!(all.len(), 1, "one exporter: {all:?}");
    let (exporter, got) = all.iter().next().expect("one exporter");
    assert_eq!(
        *got,
        [capture.flows, capture.packets, capture.bytes],
        "slaves vs capture"
    );
    for (i, slave) in per_slave.iter().enumerate() {
        let flows = slave.get(exporter).map_or(0, |t| t[0]);
        assert!(flows > 0, "slave {i} holds part of softflowd's flows: {per_slave:?}");
    }
    Ok(())
}

/// A round-robin proxy follows its master's topology: a slave added mid-stream (by `flowfold
/// admin slave add`) first gets every template and the sampling options the proxy has seen,
/// then its turn of the records, so with exporters that send their templates and options only
/// once, at the start, nothing is lost or held: the slaves together hold the generator's
/// totals (scaled by the sampling interval), the new slave holds its share, all of it sampled,
/// and its decoder saw no sequence gap.
#[test]
fn a_round_robin_proxy_gives_an_added_slave_the_templates_first() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let s1 = Standalone::start_slave(bin, &dir.path().join("s1"), "s1", "127.0.0.181")?;
    let s2 = Standalone::start_slave(bin, &dir.path().join("s2"), "s2", "127.0.0.182")?;
    let crate::proxied_group::ProxiedGroup { master, proxy, .. } = crate::proxied_group::ProxiedGroup::start(
        dir.path(),
        "127.0.0.184",
        "127.0.0.180",
        "round-robin",
        vec![("s1", &s1), ("s2", &s2)],
    )?;

    // Templates and sampling options once, at the start; 4.5 s of flows.
    let truth = dir.path().join("truth.parquet");
    let target = proxy.flows[0].to_string();
    let truth_arg = truth.to_str().expect("utf-8 path").to_string();
    let sender = std::thread::spawn(move || {
        generate(&[
            "--target",
            &target,
            "--exporters",
            "2",
            "--formats",
            "v9,ipfix",
            "--flows",
            "90000",
            "--rate",
            "20000",
            "--seed",
            "71",
            "--template-refresh",
            "1000000",
            "--sampling-interval",
            &SAMPLING.to_string(),
            "--truth",
            &truth_arg,
        ])
    });
    std::thread::sleep(Duration::from_millis(1000));
    let s3 = Standalone::start_slave(bin, &dir.path().join("s3"), "s3", "127.0.0.183")?;
    let r3 = s3.ready.relays[0].to_string();
    crate::proxied_group::add_slave(&master, "s3", "site", "g1", &s3, true)?;
    flowfold_tests::wait_for("the proxy to spread over s3", Duration::from_secs(30), || {
        // A round-robin proxy answers 409 there, naming its slaves now.
        flowfold_tests::http_get(proxy.http, "/assignments")
            .ok()?
            .contains(&r3)
            .then_some(())
    })?;
    let summary = sender.join().expect("the sender thread")?;
    assert_eq!(summary["flows"].as_u64(), Some(90_000), "{summary}");

    let slaves = [s1, s2, s3];
    let per_slave = stored(&slaves, 90_000)?;
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(truth.with_extension("json"))?)?;
    let want = totals(truth["exporters"].as_array().map(Vec::as_slice).unwrap_or(&[]));
    assert_eq!(want.len(), 2, "{truth}");
    assert_eq!(summed(&per_slave), want, "per-exporter totals over the slaves");
    let on_s3: u64 = per_slave[2].values().map(|t| t[0]).sum();
    assert!(
        on_s3 >= 1_000 && per_slave[2].len() == 2,
        "s3 holds a share of both exporters: {per_slave:?}"
    );
    let sampled = slaves[2].sql_remote(&format!(
        "SELECT count(*) AS n FROM flows WHERE sampling_interval = {SAMPLING}"
    ))?;
    assert_eq!(sampled[0]["n"].as_u64(), Some(on_s3), "every flow of s3 is scaled");
    assert_eq!(
        slaves[2].metric_sum("flowfold_sequence_missing_total", &[])?,
        0.0,
        "no false gap on s3"
    );
    assert_eq!(
        master.sql("SELECT count(*) AS n FROM flows")?[0]["n"].as_u64(),
        Some(90_000)
    );
    Ok(())
}
