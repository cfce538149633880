//! A proxy as a site's export target (flow-source model): the generator sends six exporters to
//! the proxy, which forwards each exporter's datagrams to one of three slaves (`flowfold slave`,
//! relay ports), keeping the exporter's address. The master, reading the group through that
//! proxy, must report the generator's ground truth per exporter; every exporter's flows must be
//! on exactly one slave, two exporters per slave. A slave added later receives the new exporters
//! while the known ones stay where they are.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flowfold_tests::master::{GroupSpec, Master, ProxyNode, topology_toml};
use flowfold_tests::node::Standalone;
use serde_json::Value;

use crate::{flowfold, generate};

const FLOWS: u64 = 30_000;

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

#[test]
fn a_proxy_spreads_exporters_over_its_slaves_keeping_their_addresses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let slaves = [
        Standalone::start_slave(bin, &dir.path().join("s1"), "s1", "127.0.0.51")?,
        Standalone::start_slave(bin, &dir.path().join("s2"), "s2", "127.0.0.52")?,
        Standalone::start_slave(bin, &dir.path().join("s3"), "s3", "127.0.0.53")?,
    ];
    let relays: Vec<String> = slaves.iter().map(|s| s.ready.relays[0].to_string()).collect();
    let state = dir.path().join("assignments.json");
    let mut flags: Vec<&str> = vec![
        "--flows",
        "127.0.0.50:0",
        "--state",
        state.to_str().expect("utf-8 path"),
    ];
    for relay in &relays {
        flags.extend(["--slave", relay.as_str()]);
    }
    let proxy = ProxyNode::start_with(bin, dir.path(), "p1", "127.0.0.50", &flags)?;

    let truth = dir.path().join("truth.parquet");
    let summary = generate(&[
        "--target",
        &proxy.flows[0].to_string(),
        "--exporters",
        "6",
        "--flows",
        &FLOWS.to_string(),
        "--rate",
        "50000",
        "--seed",
        "21",
        "--truth",
        truth.to_str().expect("utf-8 path"),
    ])?;
    assert_eq!(summary["flows"].as_u64(), Some(FLOWS), "{summary}");

    let cluster = topology_toml(&[(
        "site",
        vec![GroupSpec {
            name: "g1",
            priority: 1,
            proxy: Some(("p1", proxy.query)),
            slaves: vec![("s1", &slaves[0]), ("s2", &slaves[1]), ("s3", &slaves[2])],
        }],
    )]);
    let master = Master::start(bin, dir.path(), "127.0.0.54", &cluster)?;
    let mut stored = 0;
    flowfold_tests::wait_for("every flow stored on the slaves", Duration::from_secs(60), || {
        stored = master.sql("SELECT count(*) AS n FROM flows").ok()?[0]["n"].as_u64()?;
        (stored == FLOWS).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}: {stored} of {FLOWS} flows stored"))?;

    // Per exporter, the master's totals are the generator's ground truth.
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(truth.with_extension("json"))?)?;
    let want: BTreeMap<String, [u64; 3]> = totals(truth["exporters"].as_array().map(Vec::as_slice).unwrap_or(&[]));
    let got = totals(&master.sql(
        "SELECT ip_text(exporter) AS exporter, count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes \
         FROM flows GROUP BY exporter",
    )?);
    assert_eq!(want.len(), 6, "{truth}");
    assert_eq!(got, want, "stored per-exporter totals differ from the ground truth");

    // Each exporter on exactly one slave, two per slave (fewest-first assignment).
    let mut seen = BTreeSet::new();
    for slave in &slaves {
        let rows = slave.sql_remote("SELECT DISTINCT ip_text(exporter) AS exporter FROM flows")?;
        let mine: BTreeSet<String> = rows
            .iter()
            .filter_map(|r| Some(r["exporter"].as_str()?.to_string()))
            .collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        for exporter in mine {
            assert!(seen.insert(exporter.clone()), "{exporter} is on two slaves");
        }
    }
    assert_eq!(seen.len(), 6);
    let assignments = std::fs::read_to_string(&state)?;
    assert_eq!(assignments.matches("127.0.1.").count(), 6, "{assignments}");

    // `flowfold admin cluster` lists every unit up, the serving group, each slave's channels.
    let listing = master.admin_cluster()?;
    let lines: Vec<&str> = listing.lines().collect();
    for name in ["p1", "s1", "s2", "s3"] {
        let line = lines
            .iter()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .copied()
            .unwrap_or("");
        assert!(line.contains(" up ") && line.contains("g1 (p1)*"), "{name}: {listing}");
    }
    assert_eq!(listing.matches("exporter_127_0_1_").count(), 6, "{listing}");

    // A slave added to the group (the proxy restarted with it, same state file): the six known
    // exporters stay where they are, two new exporters go to the new, emptiest slave.
    proxy.kill()?;
    let s4 = Standalone::start_slave(bin, &dir.path().join("s4"), "s4", "127.0.0.55")?;
    let s4_relay = s4.ready.relays[0].to_string();
    flags.extend(["--slave", s4_relay.as_str()]);
    let proxy = ProxyNode::start_with(bin, dir.path(), "p1-again", "127.0.0.50", &flags)?;
    for (seed, exporters, base) in [("21", "6", "127.0.1.1"), ("22", "2", "127.0.3.1")] {
        let summary = generate(&[
            "--target",
            &proxy.flows[0].to_string(),
            "--exporters",
            exporters,
            "--flows",
            "6000",
            "--rate",
            "50000",
            "--seed",
            seed,
            "--source-base",
            base,
        ])?;
        assert_eq!(summary["flows"].as_u64(), Some(6000), "{summary}");
    }
    flowfold_tests::wait_for("the new slave to store its flows", Duration::from_secs(60), || {
        let rows = s4.sql_remote("SELECT count(*) AS n FROM flows").ok()?;
        (rows[0]["n"].as_u64()? == 6000).then_some(())
    })?;
    let rows = s4.sql_remote("SELECT DISTINCT ip_text(exporter) AS e FROM flows ORDER BY e")?;
    let on_s4: Vec<&str> = rows.iter().filter_map(|r| r["e"].as_str()).collect();
    assert_eq!(
        on_s4,
        ["127.0.3.1", "127.0.3.2"],
        "only the new exporters go to the new slave"
    );
    for slave in &slaves {
        let rows = slave.sql_remote("SELECT count(DISTINCT exporter) AS n FROM flows")?;
        assert_eq!(
            rows[0]["n"].as_u64(),
            Some(2),
            "the old slaves keep their two exporters"
        );
    }
    // The admin route lists every exporter's slave (index into --slave).
    let listing = flowfold_tests::http_get(proxy.http, "/assignments")?;
    for (exporter, slave) in [("127.0.3.1", 3), ("127.0.3.2", 3)] {
        assert!(listing.contains(&format!("\"{exporter}\":{slave}")), "{listing}");
    }
    assert_eq!(listing.matches("\"127.0.1.").count(), 6, "{listing}");
    Ok(())
}

/// softflowd (software we did not write) exports a capture as IPFIX to a proxy: the master
/// reports the capture's own totals, stored on one slave under softflowd's address.
#[test]
fn softflowd_through_a_proxy_equals_the_capture() -> anyhow::Result<()> {
    crate::require("softflowd");
    let dir = tempfile::tempdir()?;
    let (pcap, capture) = flowfold_tests::pcap::recent_capture(dir.path(), 300)?;
    let (slaves, proxy) = two_slave_site(dir.path(), 60)?;
    flowfold_tests::peers::softflowd_replay(&pcap, proxy.flows[0], 10, dir.path())?;

    let master = master_of(dir.path(), &proxy, &slaves, "127.0.0.63")?;
    let query = "SELECT ip_text(exporter) AS exporter, count(*) AS flows, sum(packets) AS packets, \
                 sum(bytes) AS bytes FROM flows GROUP BY exporter";
    let mut got = BTreeMap::new();
    flowfold_tests::wait_for("softflowd's flows stored", Duration::from_secs(30), || {
        got = totals(&master.sql(query).ok()?);
        (got.values().map(|t| t[0]).sum::<u64>() == capture.flows).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}: got {got:?}, capture has {} flows", capture.flows))?;
    assert_eq!(got.len(), 1, "one exporter: {got:?}");
    let (_, stored) = got.iter().next().expect("one exporter");
    assert_eq!(
        *stored,
        [capture.flows, capture.packets, capture.bytes],
        "master vs capture"
    );
    let holders = slaves
        .iter()
        .filter(|s| {
            s.sql_remote("SELECT count(*) AS n FROM flows")
                .is_ok_and(|r| r[0]["n"].as_u64() == Some(capture.flows))
        })
        .count();
    assert_eq!(holders, 1, "softflowd's flows are all on one slave");
    Ok(())
}

/// An exporter moved to another slave mid-stream with the proxy's admin route: its flows are
/// split between the two slaves, and the master's per-exporter totals still equal the
/// generator's ground truth exactly (nothing lost for want of templates, nothing twice).
#[test]
fn a_rebalance_mid_stream_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (slaves, proxy) = two_slave_site(dir.path(), 70)?;
    let truth = dir.path().join("truth.parquet");
    // Two exporters (v9 and IPFIX) that send their templates once, at the start: after the move
    // only the proxy's template replay lets the new slave decode them. 3 s of export.
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
            "60000",
            "--rate",
            "20000",
            "--seed",
            "31",
            "--template-refresh",
            "1000000",
            "--truth",
            &truth_arg,
        ])
    });
    // Mid-stream, move the IPFIX exporter (127.0.1.2) to the slave it is not on.
    std::thread::sleep(Duration::from_millis(1500));
    let listing = flowfold_tests::http_get(proxy.http, "/assignments")?;
    let now_on = if listing.contains("\"127.0.1.2\":0") { 0 } else { 1 };
    let moved = flowfold_tests::http(
        proxy.http,
        "POST",
        &format!("/rebalance?exporter=127.0.1.2&slave={}", 1 - now_on),
    )?;
    assert!(moved.starts_with("HTTP/1.1 200"), "{moved}");
    let summary = sender.join().expect("the sender thread")?;
    assert_eq!(summary["flows"].as_u64(), Some(60_000), "{summary}");

    let master = master_of(dir.path(), &proxy, &slaves, "127.0.0.73")?;
    let query = "SELECT ip_text(exporter) AS exporter, count(*) AS flows, sum(packets) AS packets, \
                 sum(bytes) AS bytes FROM flows GROUP BY exporter";
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(truth.with_extension("json"))?)?;
    let want = totals(truth["exporters"].as_array().map(Vec::as_slice).unwrap_or(&[]));
    let mut got = BTreeMap::new();
    flowfold_tests::wait_for("every flow stored", Duration::from_secs(60), || {
        got = totals(&master.sql(query).ok()?);
        (got == want).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}:\n got  {got:?}\n want {want:?}"))?;
    // The moved exporter is on both slaves now; a query naming it reads both.
    let named = master.sql("SELECT count(*) AS n FROM flows WHERE exporter = ip('127.0.1.2')")?;
    assert_eq!(
        named[0]["n"].as_u64(),
        want.get("127.0.1.2").map(|t| t[0]),
        "pruning kept both slaves"
    );
    for slave in &slaves {
        let rows = slave.sql_remote("SELECT count(*) AS n FROM flows WHERE exporter = ip('127.0.1.2')")?;
        assert!(
            rows[0]["n"].as_u64().unwrap_or(0) > 0,
            "each slave holds part of the moved exporter"
        );
    }
    Ok(())
}

/// Two slaves (`s1`, `s2` on 127.0.0.NET+1 and +2) behind proxy `p` (127.0.0.NET), which
/// distributes by flow source; state under `dir`.
fn two_slave_site(dir: &std::path::Path, net: u8) -> anyhow::Result<([Standalone; 2], ProxyNode)> {
    let bin = flowfold();
    let host = |i: u8| format!("127.0.0.{}", net + i);
    let slaves = [
        Standalone::start_slave(bin, &dir.join("s1"), "s1", &host(1))?,
        Standalone::start_slave(bin, &dir.join("s2"), "s2", &host(2))?,
    ];
    let relays: Vec<String> = slaves.iter().map(|s| s.ready.relays[0].to_string()).collect();
    let (flows, state) = (format!("{}:0", host(0)), dir.join("assignments.json"));
    let mut flags = vec![
        "--flows",
        flows.as_str(),
        "--state",
        state.to_str().expect("utf-8 path"),
    ];
    for relay in &relays {
        flags.extend(["--slave", relay.as_str()]);
    }
    let proxy = ProxyNode::start_with(bin, dir, "p", &host(0), &flags)?;
    Ok((slaves, proxy))
}

/// A master over the one group of [`two_slave_site`].
fn master_of(dir: &std::path::Path, proxy: &ProxyNode, slaves: &[Standalone; 2], host: &str) -> anyhow::Result<Master> {
    let cluster = topology_toml(&[(
        "site",
        vec![GroupSpec {
            name: "g",
            priority: 1,
            proxy: Some(("p", proxy.query)),
            slaves: vec![("s1", &slaves[0]), ("s2", &slaves[1])],
        }],
    )]);
    Master::start(flowfold(), dir, host, &cluster)
}
