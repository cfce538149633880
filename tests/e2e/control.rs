//! The control plane across real processes: a master with `[control]` (a token), two slaves and
//! a proxy registering with it. All are listed by `flowfold admin units` with their role, version and
//! the master's configuration version; a profile created on the master is pushed to both as a
//! new version; with the master gone the slaves keep ingesting, and a slave restarted meanwhile
//! runs the version it stored. A slave with a wrong token is refused with the reason. The slaves
//! follow the master's catalog: its profiles and deleted flow sources.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flowfold_tests::master::{Master, ProxyNode};
use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;
use serde_json::Value;

use crate::{flowfold, generate};

const TOKEN: &str = "e2e-t0ken";

/// `GET /units` of the master, as JSON.
fn units(master: &Master) -> anyhow::Result<Value> {
    let out = admin(&["units", "--json", "--master", &master.metrics.to_string()])?;
    Ok(serde_json::from_str(&out)?)
}

/// Runs `flowfold admin ARGS`, failing with its stderr.
fn admin(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(flowfold()).arg("admin").args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "flowfold admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A slave configuration registering with `control` using `token`.
fn slave_config(dir: &Path, name: &str, control: std::net::SocketAddr, token: &str) -> anyhow::Result<String> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[control]\nmasters = [\"{control}\"]\ntoken = \"{token}\"\ngroup = \"g-{name}\"\nheartbeat = \"200ms\"\n"
        ),
    )?;
    Ok(path.to_string_lossy().into_owned())
}

fn start_slave(dir: &Path, name: &str, host: &str, config: &str) -> anyhow::Result<Standalone> {
    Standalone::start_slave_logged(flowfold(), &dir.join(name), name, host, &["--config", config])
}

/// Sends `flows` generated flows to `node` and waits until it stored `expect` flows in all.
fn feed(node: &Standalone, flows: u64, seed: &str, expect: f64) -> anyhow::Result<()> {
    let target = node.flow_addr().to_string();
    generate(&[
        "--target",
        &target,
        "--flows",
        &flows.to_string(),
        "--rate",
        "50000",
        "--seed",
        seed,
    ])?;
    wait_for("the flows to be stored", Duration::from_secs(30), || {
        (node.metric_sum("flowfold_flows_stored_total", &[]).ok()? >= expect).then_some(())
    })
}

fn config_version(node: &Standalone) -> f64 {
    node.metric_sum("flowfold_control_config_version", &[]).unwrap_or(-1.0)
}

#[test]
fn slaves_register_follow_pushed_versions_and_outlive_the_master() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = format!("[control]\nlisten = \"127.0.0.40:0\"\ntoken = \"{TOKEN}\"\n");
    let master = Master::start(flowfold(), dir.path(), "127.0.0.40", &cluster)?;
    let control = master.control.expect("the ready file names the control address");
    assert_eq!(control.ip().to_string(), "127.0.0.40");
    let s1 = start_slave(
        dir.path(),
        "s1",
        "127.0.0.41",
        &slave_config(dir.path(), "s1", control, TOKEN)?,
    )?;
    let s2_config = slave_config(dir.path(), "s2", control, TOKEN)?;
    let s2 = start_slave(dir.path(), "s2", "127.0.0.42", &s2_config)?;
    let proxy_config = dir.path().join("p1.toml");
    std::fs::write(
        &proxy_config,
        format!(
            "name = \"p1\"\n[distribution]\nstate = \"{}\"\n[control]\nmasters = [\"{control}\"]\ntoken = \"{TOKEN}\"\ngroup = \"g-p1\"\n",
            dir.path().join("p1/assignments.json").display()
        ),
    )?;
    let proxy_config = proxy_config.to_string_lossy().into_owned();
    let _proxy = ProxyNode::start_with(flowfold(), dir.path(), "p1", "127.0.0.44", &["--config", &proxy_config])?;

    // All register, with their role, group and version, and run the master's version.
    let first = wait_for(
        "every unit to run the master's version",
        Duration::from_secs(30),
        || {
            let view = units(&master).ok()?;
            let version = view["config_version"].as_u64()?;
            let list = view["units"].as_array()?;
            (list.len() == 3 && list.iter().all(|u| u["config_version"].as_u64() == Some(version))).then_some(view)
        },
    )?;
    let v1 = first["config_version"].as_u64().unwrap();
    for (unit, (name, role)) in
        first["units"]
            .as_array()
            .unwrap()
            .iter()
            .zip([("p1", "proxy"), ("s1", "slave"), ("s2", "slave")])
    {
        assert_eq!(unit["name"], name, "{first}");
        assert_eq!(unit["role"], role);
        assert_eq!(unit["group"], format!("g-{name}"));
        assert_eq!(unit["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(unit["connected"], true);
    }
    let table = admin(&["units", "--master", &master.metrics.to_string()])?;
    for name in ["s1", "s2"] {
        let line = table.lines().find(|l| l.starts_with(name)).unwrap_or_default();
        assert!(
            line.contains("slave") && line.contains("connected") && line.contains(&format!("{v1}/{v1} ")),
            "{table}"
        );
    }
    assert_eq!(config_version(&s1), v1 as f64);

    // A refused slave: wrong token.
    let intruder_config = slave_config(dir.path(), "s3", control, "guess")?;
    let intruder = start_slave(dir.path(), "s3", "127.0.0.43", &intruder_config)?;
    wait_for("the refusal", Duration::from_secs(30), || {
        let refused = intruder
            .metric_sum(
                "flowfold_control_sessions_failed_total",
                &["reason=\"unauthenticated\""],
            )
            .ok()?;
        (refused >= 1.0).then_some(())
    })?;
    let log = intruder.log();
    assert!(
        log.contains("Unauthenticated") || log.contains("unauthenticated"),
        "{log}"
    );
    assert!(log.contains("wrong token"), "{log}");
    assert!(
        master.metric_sum(
            "flowfold_control_sessions_rejected_total",
            &["reason=\"unauthenticated\""]
        )? >= 1.0
    );
    assert_eq!(
        units(&master)?["units"].as_array().map(Vec::len),
        Some(3),
        "the intruder is not listed"
    );
    intruder.stop()?;

    // Flows reach s1; it reports its exporters.
    feed(&s1, 2_000, "7", 2_000.0)?;
    wait_for("s1's exporters", Duration::from_secs(30), || {
        let view = units(&master).ok()?;
        let s1 = view["units"].as_array()?.iter().find(|u| u["name"] == "s1")?.clone();
        (!s1["exporters"].as_array()?.is_empty()).then_some(())
    })?;

    // A new profile on the master is a new version, pushed to both slaves.
    admin(&[
        "profile",
        "create",
        "web",
        "--node",
        &master.metrics.to_string(),
        "--channel",
        "https=proto tcp and dst port 443",
    ])?;
    let v2 = units(&master)?["config_version"].as_u64().unwrap();
    assert!(v2 > v1, "creating a profile publishes a new version ({v1} -> {v2})");
    for node in [&s1, &s2] {
        wait_for("the new version on the slave", Duration::from_secs(30), || {
            (config_version(node) == v2 as f64).then_some(())
        })?;
    }
    wait_for("every unit to acknowledge it", Duration::from_secs(30), || {
        let view = units(&master).ok()?;
        view["units"]
            .as_array()?
            .iter()
            .all(|u| u["config_version"].as_u64() == Some(v2))
            .then_some(())
    })?;
    let stored = std::fs::read_to_string(dir.path().join("s2/control/config.json"))?;
    assert!(
        stored.contains("\"web\""),
        "the stored configuration holds the profile: {stored}"
    );
    let proxy_stored = std::fs::read_to_string(dir.path().join("p1/control/config.json"))?;
    assert!(
        proxy_stored.contains("\"web\""),
        "the proxy keeps it beside its state: {proxy_stored}"
    );

    // The slaves follow the master's catalog: their own SQL sees its profiles, and a flow source
    // deleted on the master leaves their live profile.
    let count = |node: &Standalone, sql: &str| -> Option<u64> { node.sql_remote(sql).ok()?.first()?["n"].as_u64() };
    let https = wait_for("s1 to follow the master's profiles", Duration::from_secs(30), || {
        count(&s1, "SELECT count(*) AS n FROM web.https")
    })?;
    let by_hand = count(
        &s1,
        "SELECT count(*) AS n FROM live.flows WHERE protocol = 6 AND dst_port = 443",
    );
    assert!(
        https > 0 && Some(https) == by_hand,
        "web.https {https}, by hand {by_hand:?}"
    );
    let exporter = "SELECT count(*) AS n FROM live.flows WHERE exporter = ip('127.0.1.1')";
    assert!(count(&s1, exporter).is_some_and(|n| n > 0), "s1 stores 127.0.1.1");
    admin(&["source", "delete", "127.0.1.1", "--node", &master.metrics.to_string()])?;
    let v2 = units(&master)?["config_version"].as_u64().unwrap();
    wait_for(
        "s1 to drop the deleted source from live",
        Duration::from_secs(30),
        || (count(&s1, exporter)? == 0).then_some(()),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", s1.log()))?;
    for node in [&s1, &s2] {
        wait_for("the deletion's version on the slave", Duration::from_secs(30), || {
            (config_version(node) == v2 as f64).then_some(())
        })?;
    }

    // A change and a delete on the master reach the slaves too, each as a new version.
    let master_admin = master.metrics.to_string();
    admin(&[
        "profile",
        "change",
        "web",
        "--node",
        &master_admin,
        "--channel",
        "dns=proto udp and dst port 53",
    ])?;
    let dns = wait_for("s1 to see the changed profile", Duration::from_secs(30), || {
        count(&s1, "SELECT count(*) AS n FROM web.dns")
    })?;
    assert_eq!(
        Some(dns),
        count(
            &s1,
            "SELECT count(*) AS n FROM live.flows WHERE protocol = 17 AND dst_port = 53"
        ),
        "the pushed channel is the master's filter"
    );
    admin(&["profile", "delete", "web", "--node", &master_admin])?;
    wait_for("s1 to drop the deleted profile", Duration::from_secs(30), || {
        s1.sql_remote("SELECT count(*) AS n FROM web.https")
            .is_err()
            .then_some(())
    })?;
    let v3 = units(&master)?["config_version"].as_u64().unwrap();
    assert!(
        v3 >= v2 + 2,
        "a change and a delete publish two versions ({v2} -> {v3})"
    );
    let v2 = v3;
    for node in [&s1, &s2] {
        wait_for("the latest version on the slave", Duration::from_secs(30), || {
            (config_version(node) == v2 as f64).then_some(())
        })?;
    }

    // The master goes away: the slaves notice, and keep ingesting.
    drop(master);
    for node in [&s1, &s2] {
        wait_for("the session to end", Duration::from_secs(30), || {
            (node.metric_sum("flowfold_control_connected", &[]).ok()? == 0.0).then_some(())
        })?;
    }
    feed(&s1, 1_000, "8", 3_000.0)?;
    feed(&s2, 1_500, "9", 1_500.0)?;

    // A slave restarted while the master is away runs the version it stored.
    s2.stop()?;
    let s2 = start_slave(dir.path(), "s2", "127.0.0.42", &s2_config)?;
    assert_eq!(
        config_version(&s2),
        v2 as f64,
        "the restarted slave runs the stored version"
    );
    assert_eq!(s2.metric_sum("flowfold_control_connected", &[])?, 0.0);
    feed(&s2, 500, "10", 500.0)?;
    Ok(())
}
