//! Flow-source discovery across real processes: slaves registered with a master report the
//! exporters they store; the master maps each to the source group of the reporting slave (by
//! the slave's place in the topology, else by the proxy group it registered with), lists it in
//! `flowfold admin source list` as mapped, unmapped (a slave the topology does not place) or a
//! conflict (an exporter reported from two source groups), keeps the list in its catalog across
//! a restart, and answers SQL on the new exporter's channel table.

use std::time::Duration;

use flowfold_tests::master::{GroupSpec, Master, topology_toml};
use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;
use serde_json::Value;

use crate::flowfold;
use crate::proxied_group::{add_slave, registered_slave};
use crate::topology_admin::{admin, send};

/// `GET /flow-sources` of the master, by exporter.
fn flow_sources(master: &Master) -> anyhow::Result<Vec<Value>> {
    let body = admin(&["source", "list", "--json", "--node", &master.metrics.to_string()])?;
    Ok(serde_json::from_str(&body)?)
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn reported_exporters_are_mapped_to_source_groups_and_kept() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    // Two source groups, each with one slave that does not register (it only answers queries).
    let a0 = Standalone::start_slave(bin, &dir.path().join("a0"), "a0", "127.0.0.171")?;
    let b0 = Standalone::start_slave(bin, &dir.path().join("b0"), "b0", "127.0.0.172")?;
    let group = |name, slave| GroupSpec {
        name,
        priority: 1,
        proxy: None,
        slaves: vec![slave],
    };
    let cluster = topology_toml(&[
        ("site-a", vec![group("ga", ("a0", &a0))]),
        ("site-b", vec![group("gb", ("b0", &b0))]),
    ]);
    let master = Master::start(bin, dir.path(), "127.0.0.170", &cluster)?;
    let control = master.control.expect("the ready file names the control address");

    // s1 joins ga by command (placed by name), s2 only says it is in gb (placed by its group),
    // s3 says a group the topology does not have.
    let s1 = registered_slave(dir.path(), "s1", "127.0.0.173", &[control], Some("ga"))?;
    add_slave(&master, "s1", "site-a", "ga", &s1, false)?;
    let s2 = registered_slave(dir.path(), "s2", "127.0.0.174", &[control], Some("gb"))?;
    let s3 = registered_slave(dir.path(), "s3", "127.0.0.175", &[control], Some("nowhere"))?;

    send(s1.flow_addr(), 1, 1_000, "61", "127.0.11.1")?;
    send(s2.flow_addr(), 1, 1_500, "62", "127.0.12.1")?;
    send(s3.flow_addr(), 1, 500, "63", "127.0.13.1")?;
    // One exporter that sends to both sites.
    send(s1.flow_addr(), 1, 200, "64", "127.0.19.1")?;
    send(s2.flow_addr(), 1, 300, "65", "127.0.19.1")?;

    let expected = ["127.0.11.1", "127.0.12.1", "127.0.13.1", "127.0.19.1"];
    let listed = wait_for("the four flow sources", Duration::from_secs(30), || {
        let list = flow_sources(&master).ok()?;
        let conflict = list.iter().any(|s| s["state"] == "conflict");
        (list.len() == expected.len() && conflict).then_some(list)
    })?;
    let exporters: Vec<&str> = listed.iter().filter_map(|s| s["exporter"].as_str()).collect();
    assert_eq!(exporters, expected);
    let by = |exporter: &str| listed.iter().find(|s| s["exporter"] == exporter).unwrap();
    let one = by("127.0.11.1");
    assert_eq!(one["state"], "mapped", "{one}");
    assert_eq!(strings(&one["source_groups"]), ["site-a"]);
    assert_eq!(strings(&one["proxy_groups"]), ["ga"]);
    assert_eq!(strings(&one["units"]), ["s1"]);
    let two = by("127.0.12.1");
    assert_eq!(two["state"], "mapped", "{two}");
    assert_eq!(strings(&two["source_groups"]), ["site-b"], "s2 is placed by its group");
    let three = by("127.0.13.1");
    assert_eq!(three["state"], "unmapped", "{three}");
    assert!(strings(&three["source_groups"]).is_empty());
    assert_eq!(strings(&three["units"]), ["s3"]);
    let both = by("127.0.19.1");
    assert_eq!(strings(&both["source_groups"]), ["site-a", "site-b"], "{both}");
    assert_eq!(strings(&both["units"]), ["s1", "s2"]);
    assert_eq!(
        master.metric_sum("flowfold_flow_sources_discovered_total", &[])?,
        4.0,
        "each exporter discovered once"
    );
    assert_eq!(master.metric_sum("flowfold_flow_source_conflicts_total", &[])?, 1.0);

    // The table view.
    let table = admin(&["source", "list", "--node", &master.metrics.to_string()])?;
    let line = |exporter: &str| {
        table
            .lines()
            .find(|l| l.starts_with(exporter))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("127.0.19.1").contains("conflict") && line("127.0.19.1").contains("site-a,site-b"),
        "{table}"
    );
    assert!(line("127.0.13.1").contains("unmapped"), "{table}");

    // The new exporter of a slave in the topology is a channel table on the master.
    let count = master.sql("SELECT count(*) AS n FROM exporter_127_0_11_1")?;
    assert_eq!(count[0]["n"].as_u64(), Some(1_000));

    // s3 joins the topology by command: its exporter is placed at the next look (a topology
    // edit is looked at without waiting for s3 to report again) and becomes a channel table.
    add_slave(&master, "s3", "site-b", "gb", &s3, false)?;
    wait_for("127.0.13.1 to be mapped", Duration::from_secs(30), || {
        let list = flow_sources(&master).ok()?;
        let three = list.iter().find(|s| s["exporter"] == "127.0.13.1")?;
        (three["state"] == "mapped" && strings(&three["source_groups"]) == ["site-b"]).then_some(())
    })?;
    let count = wait_for("s3's channel table on the master", Duration::from_secs(30), || {
        master.sql("SELECT count(*) AS n FROM exporter_127_0_13_1").ok()?[0]["n"].as_u64()
    })?;
    assert_eq!(count, 500);

    // The list is in the catalog: a restarted master (its units not yet back) still has it.
    let first_seen = one["first_seen_ms"].as_i64();
    drop(master);
    let master = Master::start(bin, dir.path(), "127.0.0.170", &cluster)?;
    let again = flow_sources(&master)?;
    assert_eq!(again.len(), expected.len(), "{again:?}");
    let one = again.iter().find(|s| s["exporter"] == "127.0.11.1").unwrap();
    assert_eq!(one["first_seen_ms"].as_i64(), first_seen);
    assert_eq!(one["state"], "mapped");
    Ok(())
}
