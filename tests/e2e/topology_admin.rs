//! The master's topology as an editable catalog: `flowfold admin slave add|remove` against a
//! master over real slaves. A query right after `add` reads the new slave's flows, after
//! `remove` it no longer asks it; each edit is a new configuration version that a registered
//! node acknowledges (`flowfold admin units`); refusals name their cause and HTTP status; a
//! restarted master runs the edited topology, not its configuration's.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use flowfold_tests::master::{GroupSpec, Master, topology_toml};
use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;
use serde_json::Value;

use crate::proxied_group::{ProxiedGroup, add_slave, registered_slave, start_proxy};
use crate::{flowfold, generate};

/// Runs `flowfold admin ARGS` (failed or not).
pub fn admin_output(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(flowfold()).arg("admin").args(args).output()?)
}

/// Runs `flowfold admin ARGS`, failing with its stderr.
pub fn admin(args: &[&str]) -> anyhow::Result<String> {
    let out = admin_output(args)?;
    anyhow::ensure!(
        out.status.success(),
        "flowfold admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// `flowfold admin ARGS` must fail with `status` and `cause` in its message.
pub fn refused(args: &[&str], status: &str, cause: &str) -> anyhow::Result<()> {
    let out = admin_output(args)?;
    let err = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(!out.status.success(), "flowfold admin {args:?} succeeded");
    anyhow::ensure!(
        err.contains(&format!("HTTP {status}")) && err.contains(cause),
        "flowfold admin {args:?}: expected HTTP {status} and {cause:?}, got: {err}"
    );
    Ok(())
}

/// `GET /units` of the master, as JSON.
pub fn units(master: &Master) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&admin(&[
        "units",
        "--json",
        "--master",
        &master.metrics.to_string(),
    ])?)?)
}

/// Waits until every unit registered with `master` runs its configuration version; returns it.
pub fn all_units_run_the_masters_version(master: &Master, units_expected: usize) -> anyhow::Result<u64> {
    wait_for(
        "every unit to run the master's version",
        Duration::from_secs(30),
        || {
            let view = units(master).ok()?;
            let version = view["config_version"].as_u64()?;
            let list = view["units"].as_array()?;
            (list.len() == units_expected && list.iter().all(|u| u["config_version"].as_u64() == Some(version)))
                .then_some(version)
        },
    )
}

/// Sends `flows` generated flows of `exporters` exporters from `base` to `target`.
pub fn send(target: SocketAddr, exporters: u64, flows: u64, seed: &str, base: &str) -> anyhow::Result<()> {
    let summary = generate(&[
        "--target",
        &target.to_string(),
        "--exporters",
        &exporters.to_string(),
        "--flows",
        &flows.to_string(),
        "--rate",
        "50000",
        "--seed",
        seed,
        "--source-base",
        base,
    ])?;
    anyhow::ensure!(summary["flows"].as_u64() == Some(flows), "{summary}");
    Ok(())
}

/// Waits until `node` stored `expect` flows.
fn stored(node: &Standalone, expect: u64) -> anyhow::Result<()> {
    wait_for("the flows to be stored", Duration::from_secs(30), || {
        (node.metric_sum("flowfold_flows_stored_total", &[]).ok()? >= expect as f64).then_some(())
    })
}

/// `count(*)` of the master's `flows`.
pub fn master_count(master: &Master) -> anyhow::Result<u64> {
    master.sql("SELECT count(*) AS n FROM flows")?[0]["n"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no count"))
}

#[test]
fn slaves_are_added_and_removed_on_a_running_master() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let s1 = Standalone::start_slave(bin, &dir.path().join("s1"), "s1", "127.0.0.81")?;
    let s2 = Standalone::start_slave(bin, &dir.path().join("s2"), "s2", "127.0.0.82")?;
    let cluster = topology_toml(&[(
        "site",
        vec![GroupSpec {
            name: "g1",
            priority: 1,
            proxy: None,
            slaves: vec![("s1", &s1), ("s2", &s2)],
        }],
    )]);
    let config = format!("[control]\nlisten = \"127.0.0.80:0\"\n{cluster}");
    let master = Master::start(bin, dir.path(), "127.0.0.80", &config)?;
    let control = master.control.expect("the ready file names the control address");
    let s3 = registered_slave(dir.path(), "s3", "127.0.0.83", &[control], Some("g1"))?;
    let v1 = all_units_run_the_masters_version(&master, 1)?;

    send(s1.flow_addr(), 1, 1_000, "41", "127.0.1.1")?;
    send(s2.flow_addr(), 1, 2_000, "42", "127.0.2.1")?;
    send(s3.flow_addr(), 1, 4_000, "43", "127.0.3.1")?;
    for (node, n) in [(&s1, 1_000), (&s2, 2_000), (&s3, 4_000)] {
        stored(node, n)?;
    }
    assert_eq!(master_count(&master)?, 3_000, "s3 is not in the topology yet");

    // Add s3: the very next query reads it, and the edit is pushed as a new version.
    let m = master.metrics.to_string();
    let s3_query = s3.ready.query.to_string();
    let said = add_slave(&master, "s3", "site", "g1", &s3, false)?;
    assert!(
        said.contains("slave s3 added to proxy group g1: topology version 2"),
        "{said}"
    );
    assert_eq!(master_count(&master)?, 7_000, "a query right after add reads s3");
    let v2 = all_units_run_the_masters_version(&master, 1)?;
    assert!(v2 > v1, "the edit is a new configuration version ({v1} -> {v2})");
    let stored_config = std::fs::read_to_string(dir.path().join("s3/control/config.json"))?;
    assert!(
        stored_config.contains("\"s3\""),
        "s3 stored the new topology: {stored_config}"
    );
    let listing = master.admin_cluster()?;
    let line = listing.lines().find(|l| l.contains(" s3 ")).unwrap_or_default();
    assert!(line.contains(" up ") && line.contains(&s3_query), "{listing}");
    assert!(listing.contains("topology version 2"), "{listing}");

    // Refusals name their cause.
    for (name, group, query, status, cause) in [
        (
            "s4",
            "nope",
            "127.0.0.84:4210",
            "404",
            "source group site has no proxy group named nope",
        ),
        ("s2", "g1", "127.0.0.84:4210", "409", "the name s2 is used twice"),
        ("s4", "g1", "127.0.0.84", "400", "expected host:port"),
    ] {
        let argv = [
            "slave",
            "add",
            name,
            "--master",
            &m,
            "--source-group",
            "site",
            "--proxy-group",
            group,
            "--query",
            query,
        ];
        refused(&argv, status, cause)?;
    }
    refused(&["slave", "remove", "s9", "--master", &m], "404", "no slave named s9")?;

    // Remove s1: the next query no longer asks it (it is gone), and s2 too; s3 is then the last.
    admin(&["slave", "remove", "s1", "--master", &m])?;
    s1.stop()?;
    assert_eq!(master_count(&master)?, 6_000, "s1 is no longer read");
    admin(&["slave", "remove", "s2", "--master", &m])?;
    refused(
        &["slave", "remove", "s3", "--master", &m],
        "409",
        "slave s3 is the last slave of proxy group g1",
    )?;
    assert_eq!(master_count(&master)?, 4_000);
    let v4 = all_units_run_the_masters_version(&master, 1)?;
    assert!(v4 >= v2 + 2, "each edit is a version ({v2} -> {v4})");

    // A restarted master runs the stored topology, not its configuration's.
    drop(master);
    let master = Master::start(bin, dir.path(), "127.0.0.80", &config)?;
    assert_eq!(master_count(&master)?, 4_000, "only s3, as edited");
    let shown: Value = serde_json::from_str(&flowfold_tests::http_body(master.metrics, "/topology")?)?;
    assert_eq!(shown["version"], 4, "{shown}");
    drop(s2);
    Ok(())
}

/// `exporter -> flows` on `node`.
fn exporters_on(node: &Standalone) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let rows = node.sql_remote("SELECT ip_text(exporter) AS e, count(*) AS n FROM flows GROUP BY 1")?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r["e"].as_str()?.to_string(), r["n"].as_u64()?)))
        .collect())
}

#[test]
fn a_proxy_follows_slaves_added_and_removed_on_the_master() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let s1 = Standalone::start_slave(bin, &dir.path().join("s1"), "s1", "127.0.0.91")?;
    let s2 = Standalone::start_slave(bin, &dir.path().join("s2"), "s2", "127.0.0.92")?;
    let (r1, r2) = (s1.ready.relays[0].to_string(), s2.ready.relays[0].to_string());
    let ProxiedGroup {
        master,
        proxy,
        proxy_query,
        proxy_flags,
        ..
    } = ProxiedGroup::start(
        dir.path(),
        "127.0.0.94",
        "127.0.0.90",
        "flow-source",
        vec![("s1", &s1), ("s2", &s2)],
    )?;
    let v1 = all_units_run_the_masters_version(&master, 1)?;

    // Four exporters through the proxy: two per slave.
    send(proxy.flows[0], 4, 8_000, "51", "127.0.1.1")?;
    wait_for("the first flows on the master", Duration::from_secs(30), || {
        (master_count(&master).ok()? == 8_000).then_some(())
    })?;

    // s3 joins: a group with a proxy needs its relay address.
    let s3 = Standalone::start_slave(bin, &dir.path().join("s3"), "s3", "127.0.0.93")?;
    let (m, q3, r3) = (
        master.metrics.to_string(),
        s3.ready.query.to_string(),
        s3.ready.relays[0].to_string(),
    );
    let add = [
        "slave",
        "add",
        "s3",
        "--master",
        &m,
        "--source-group",
        "site",
        "--proxy-group",
        "g1",
        "--query",
        &q3,
    ];
    refused(
        &add,
        "400",
        "proxy group g1 has a proxy, which needs the slave's relay address",
    )?;
    let mut with_relay = add.to_vec();
    with_relay.extend(["--relay", &r3]);
    admin(&with_relay)?;
    let v2 = all_units_run_the_masters_version(&master, 1)?;
    assert!(v2 > v1, "{v1} -> {v2}");
    wait_for("the proxy to send to s3", Duration::from_secs(30), || {
        flowfold_tests::http_body(proxy.http, "/assignments")
            .ok()?
            .contains(&r3)
            .then_some(())
    })?;

    // New exporters go to s3 (fewest first), and the master's totals are the generator's.
    let truth = dir.path().join("truth.parquet");
    let summary = generate(&[
        "--target",
        &proxy.flows[0].to_string(),
        "--exporters",
        "2",
        "--flows",
        "4000",
        "--rate",
        "50000",
        "--seed",
        "52",
        "--source-base",
        "127.0.3.1",
        "--truth",
        truth.to_str().expect("utf-8 path"),
    ])?;
    assert_eq!(summary["flows"].as_u64(), Some(4_000), "{summary}");
    wait_for("s3 to store the new exporters", Duration::from_secs(30), || {
        (exporters_on(&s3).ok()?.values().sum::<u64>() == 4_000).then_some(())
    })?;
    let on_s3: Vec<String> = exporters_on(&s3)?.into_keys().collect();
    assert_eq!(
        on_s3,
        ["127.0.3.1", "127.0.3.2"],
        "only the new exporters go to the new slave"
    );
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(truth.with_extension("json"))?)?;
    let want: std::collections::BTreeMap<String, [u64; 3]> = truth["exporters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let get = |k: &str| e[k].as_u64().unwrap_or(0);
            (
                e["exporter"].as_str().unwrap_or_default().to_string(),
                [get("flows"), get("packets"), get("bytes")],
            )
        })
        .collect();
    let got: std::collections::BTreeMap<String, [u64; 3]> = master
        .sql(
            "SELECT ip_text(exporter) AS e, count(*) AS f, sum(packets) AS p, sum(bytes) AS b FROM flows \
             WHERE exporter IN (ip('127.0.3.1'), ip('127.0.3.2')) GROUP BY 1",
        )?
        .iter()
        .map(|r| {
            let get = |k: &str| r[k].as_u64().unwrap_or(0);
            (
                r["e"].as_str().unwrap_or_default().to_string(),
                [get("f"), get("p"), get("b")],
            )
        })
        .collect();
    assert_eq!(want.len(), 2, "{truth}");
    assert_eq!(got, want, "the master reads s3's flows: the generator's totals");
    assert_eq!(master_count(&master)?, 12_000);

    // s1 leaves: its exporters move to s2 and s3; the master no longer reads it.
    let on_s1 = exporters_on(&s1)?;
    assert_eq!(on_s1.len(), 2, "{on_s1:?}");
    let kept_on_s1: u64 = on_s1.values().sum();
    admin(&["slave", "remove", "s1", "--master", &m])?;
    all_units_run_the_masters_version(&master, 1)?;
    assert_eq!(master_count(&master)?, 12_000 - kept_on_s1, "s1 is not read any more");
    let removed = serde_json::json!([r1]);
    wait_for("the proxy to retire s1", Duration::from_secs(30), || {
        let view: Value = serde_json::from_str(&flowfold_tests::http_body(proxy.http, "/assignments").ok()?).ok()?;
        (view["removed"] == removed).then_some(())
    })?;
    send(proxy.flows[0], 4, 8_000, "53", "127.0.1.1")?;
    wait_for("the moved exporters' flows", Duration::from_secs(30), || {
        (master_count(&master).ok()? == 20_000 - kept_on_s1).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}: {:?}", master_count(&master)))?;
    assert_eq!(exporters_on(&s1)?, on_s1, "s1 received nothing after its removal");
    for exporter in on_s1.keys() {
        let holders = [&s2, &s3]
            .iter()
            .filter(|n| exporters_on(n).is_ok_and(|e| e.contains_key(exporter)))
            .count();
        assert_eq!(holders, 1, "{exporter} moved to one remaining slave");
    }

    // The master goes away: the proxy keeps forwarding. Restarted meanwhile, it starts with the
    // stored topology's slaves, not its --slave flags, and forwards to them.
    drop(master);
    let on_remaining = || -> anyhow::Result<u64> {
        Ok([&s2, &s3]
            .iter()
            .map(|n| exporters_on(n).map(|e| e.values().sum::<u64>()))
            .collect::<anyhow::Result<Vec<u64>>>()?
            .iter()
            .sum())
    };
    let before = on_remaining()?;
    send(proxy.flows[0], 4, 2_000, "54", "127.0.1.1")?;
    wait_for("flows forwarded without the master", Duration::from_secs(30), || {
        (on_remaining().ok()? == before + 2_000).then_some(())
    })?;
    proxy.kill()?;
    let proxy = start_proxy(dir.path(), "127.0.0.90", &proxy_query, &proxy_flags)?;
    let assignments: Value = serde_json::from_str(&flowfold_tests::http_body(proxy.http, "/assignments")?)?;
    assert_eq!(assignments["slaves"], serde_json::json!([r2, r3]), "{assignments}");
    assert_eq!(
        assignments["exporters"].as_object().map(|e| e.len()),
        Some(6),
        "{assignments}"
    );
    send(proxy.flows[0], 4, 2_000, "55", "127.0.1.1")?;
    wait_for(
        "flows forwarded by the restarted proxy",
        Duration::from_secs(30),
        || (on_remaining().ok()? == before + 4_000).then_some(()),
    )?;
    assert_eq!(exporters_on(&s1)?, on_s1, "s1 still gets nothing");
    Ok(())
}

/// `flowfold admin rebalance-group` through the master: a slave added to a group takes only new
/// exporters, so the group is uneven until an operator evens it out; the master asks the
/// group's proxy (found over the control plane), which moves half the exporters to the new
/// slave without losing a flow.
#[test]
fn a_group_is_evened_out_through_the_master() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let s1 = Standalone::start_slave(bin, &dir.path().join("s1"), "s1", "127.0.0.211")?;
    let s2 = Standalone::start_slave(bin, &dir.path().join("s2"), "s2", "127.0.0.212")?;
    let r2 = s2.ready.relays[0].to_string();
    let ProxiedGroup { master, proxy, .. } = ProxiedGroup::start(
        dir.path(),
        "127.0.0.214",
        "127.0.0.210",
        "flow-source",
        vec![("s1", &s1)],
    )?;
    all_units_run_the_masters_version(&master, 1)?;
    send(proxy.flows[0], 4, 4_000, "91", "127.0.6.1")?;
    wait_for("the first flows on the master", Duration::from_secs(30), || {
        (master_count(&master).ok()? == 4_000).then_some(())
    })?;

    let m = master.metrics.to_string();
    add_slave(&master, "s2", "site", "g1", &s2, true)?;
    wait_for("the proxy to know s2", Duration::from_secs(30), || {
        flowfold_tests::http_body(proxy.http, "/assignments")
            .ok()?
            .contains(&r2)
            .then_some(())
    })?;
    refused(
        &["rebalance-group", "nope", "--master", &m],
        "404",
        "no proxy group nope",
    )?;
    let moves: Value = serde_json::from_str(&admin(&["rebalance-group", "g1", "--master", &m, "--json"])?)?;
    let moves = moves.as_array().cloned().unwrap_or_default();
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert!(moves.iter().all(|m| m["from"] == 0 && m["to"] == 1), "{moves:?}");
    let again: Value = serde_json::from_str(&admin(&["rebalance-group", "g1", "--master", &m, "--json"])?)?;
    assert_eq!(again, serde_json::json!([]), "even already");

    // The moved exporters' next flows go to s2; nothing is lost.
    send(proxy.flows[0], 4, 4_000, "92", "127.0.6.1")?;
    wait_for("every flow on the master", Duration::from_secs(30), || {
        (master_count(&master).ok()? == 8_000).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}: {:?}", master_count(&master)))?;
    let mut moved: Vec<String> = moves
        .iter()
        .filter_map(|m| m["exporter"].as_str().map(str::to_string))
        .collect();
    moved.sort();
    let on_s2: Vec<String> = exporters_on(&s2)?.into_keys().collect();
    assert_eq!(on_s2, moved, "s2 holds the moved exporters' new flows");
    Ok(())
}
