//! Two masters by priority, real processes: the backup master (priority 2) follows the
//! top-priority master over the control plane. It starts with no topology and no profile of its
//! own and takes both from the top-priority master, with the same version numbers; it refuses
//! configuration changes naming the master to change instead; it answers queries like the
//! top-priority master; when that one dies, a slave that lists both masters fails over to the
//! backup and runs the same configuration version, and queries go on.

use std::time::Duration;

use flowfold_tests::master::{GroupSpec, Master, topology_toml};
use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;
use serde_json::Value;

use crate::flowfold;
use crate::proxied_group::{add_slave, registered_slave};
use crate::topology_admin::{admin, refused, send, units};

fn count(master: &Master, sql: &str) -> Option<u64> {
    master.sql(sql).ok()?.first()?["n"].as_u64()
}

fn unit<'a>(view: &'a Value, name: &str) -> Option<&'a Value> {
    view["units"].as_array()?.iter().find(|u| u["name"] == name)
}

#[test]
fn a_backup_master_follows_the_top_priority_master_and_takes_over_its_nodes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let (m1_dir, m2_dir) = (dir.path().join("m1"), dir.path().join("m2"));
    std::fs::create_dir_all(&m1_dir)?;
    std::fs::create_dir_all(&m2_dir)?;

    // The topology starts with s0, a slave that does not register; s1, registering with both
    // masters (m1 first), joins it by command.
    let s0 = Standalone::start_slave(bin, &dir.path().join("s0"), "s0", "127.0.0.193")?;
    let cluster = topology_toml(&[(
        "site",
        vec![GroupSpec {
            name: "g1",
            priority: 1,
            proxy: None,
            slaves: vec![("s0", &s0)],
        }],
    )]);
    let m1 = Master::start(bin, &m1_dir, "127.0.0.190", &cluster)?;
    let m1_control = m1.control.expect("the ready file names the control address");
    let m2 = Master::start(
        bin,
        &m2_dir,
        "127.0.0.191",
        &format!(
            "[control]\nlisten = \"127.0.0.191:0\"\npriority = 2\nmasters = [\"{m1_control}\"]\nname = \"m2\"\nheartbeat = \"200ms\"\n"
        ),
    )?;
    let m2_control = m2.control.expect("the ready file names the control address");
    let s1 = registered_slave(dir.path(), "s1", "127.0.0.192", &[m1_control, m2_control], None)?;
    add_slave(&m1, "s1", "site", "g1", &s1, false)?;

    // m2 registers with m1 as a master and runs its version; so does the slave.
    let v1 = wait_for("m2 and s1 to run m1's version", Duration::from_secs(30), || {
        let view = units(&m1).ok()?;
        let version = view["config_version"].as_u64()?;
        let m2 = unit(&view, "m2")?;
        let s1 = unit(&view, "s1")?;
        (m2["role"] == "master"
            && m2["config_version"].as_u64() == Some(version)
            && s1["config_version"].as_u64() == Some(version))
        .then_some(version)
    })?;
    let m2_version = wait_for("m2 to publish m1's version", Duration::from_secs(30), || {
        let version = units(&m2).ok()?["config_version"].as_u64()?;
        (version == v1).then_some(version)
    })?;
    assert_eq!(m2_version, v1, "the backup publishes the same version number");

    // m2 took m1's topology: it answers over s1's flows.
    send(s1.flow_addr(), 1, 3_000, "81", "127.0.41.1")?;
    wait_for("both masters to see the flows", Duration::from_secs(30), || {
        let sql = "SELECT count(*) AS n FROM flows";
        (count(&m1, sql)? == 3_000 && count(&m2, sql)? == 3_000).then_some(())
    })?;

    // A profile created on m1 reaches m2; m2 refuses changes, naming m1.
    admin(&[
        "profile",
        "create",
        "web",
        "--node",
        &m1.metrics.to_string(),
        "--channel",
        "https=proto tcp and dst port 443",
    ])?;
    let https = "SELECT count(*) AS n FROM web.https";
    let on_m1 = count(&m1, https).expect("m1 answers its profile");
    let on_m2 = wait_for("m2 to follow the profile", Duration::from_secs(30), || {
        count(&m2, https)
    })?;
    assert_eq!(on_m1, on_m2);
    assert!(on_m1 > 0);
    let m2_admin = m2.metrics.to_string();
    let m1_control = m1_control.to_string();
    refused(
        &[
            "profile",
            "create",
            "dns",
            "--node",
            &m2_admin,
            "--channel",
            "dns=dst port 53",
        ],
        "409",
        &m1_control,
    )?;
    refused(
        &["source", "delete", "127.0.41.1", "--node", &m2_admin],
        "409",
        "backup master",
    )?;
    refused(
        &["slave", "remove", "s1", "--master", &m2_admin],
        "409",
        "backup master",
    )?;
    let v2 = units(&m1)?["config_version"].as_u64().unwrap_or(0);
    assert!(v2 > v1);
    wait_for("m2 to publish the profile's version", Duration::from_secs(30), || {
        (units(&m2).ok()?["config_version"].as_u64()? == v2).then_some(())
    })?;

    // m1 dies: the slave fails over to m2 and runs the same version; m2 keeps answering.
    drop(m1);
    wait_for("s1 to register with m2", Duration::from_secs(30), || {
        let view = units(&m2).ok()?;
        let s1 = unit(&view, "s1")?;
        (s1["connected"] == true && s1["config_version"].as_u64() == Some(v2)).then_some(())
    })?;
    assert_eq!(count(&m2, https), Some(on_m1));
    assert_eq!(count(&m2, "SELECT count(*) AS n FROM flows"), Some(3_000));

    // m1 comes back on its address: the slave goes back to it (it tries its first master every
    // few heartbeats), and m1 runs its stored catalog.
    let m1 = Master::start(
        bin,
        &m1_dir,
        "127.0.0.190",
        &format!("[control]\nlisten = \"{m1_control}\"\n{cluster}"),
    )?;
    wait_for("s1 back on m1", Duration::from_secs(30), || {
        let view = units(&m1).ok()?;
        (unit(&view, "s1")?["connected"] == true).then_some(())
    })?;
    assert_eq!(count(&m1, https), Some(on_m1), "m1 kept its profile");
    Ok(())
}
