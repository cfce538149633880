//! Sub-profiles through the real binary: `flowfold admin profile` against a running node's admin
//! endpoint, the profile's tables through Flight SQL and `flowfold top`, the catalog kept across
//! a restart, and clear refusals. (The master's side is in `distributed.rs`.)

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;

use crate::{flowfold, generate, stored_count};

/// Flows generated.
const FLOWS: u64 = 6000;

/// `flowfold admin profile ARGS --node ADMIN`: stdout, or the error text when it fails.
pub fn admin_profile(admin: SocketAddr, args: &[&str]) -> Result<String, String> {
    let out = Command::new(flowfold())
        .args(["admin", "profile"])
        .args(args)
        .args(["--node", &admin.to_string()])
        .env("FLOWFOLD_LOG", "warn")
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// The profiles `distributed.rs` and this file create: `web` (live) with an nfdump and a SQL
/// channel, and `web_v6` nested under `web.https`.
pub fn create_web_profiles(admin: SocketAddr) -> anyhow::Result<()> {
    let create = |args: &[&str]| admin_profile(admin, args).map_err(|e| anyhow::anyhow!("{args:?}: {e}"));
    create(&[
        "create",
        "web",
        "--channel",
        "https=proto tcp and dst port 443",
        "--sql-channel",
        "dns=dst_port = 53 AND protocol = 17",
        "--description",
        "web and name service",
    ])?;
    create(&[
        "create",
        "web_v6",
        "--parent",
        "web",
        "--source",
        "https",
        "--channel",
        "v6=ipv6",
    ])?;
    Ok(())
}

/// Each profile table and the same SQL over `live.flows` with its filter written by hand.
pub const PROFILE_CASES: &[(&str, &str)] = &[
    ("web.https", "protocol = 6 AND dst_port = 443"),
    ("web.dns", "dst_port = 53 AND protocol = 17"),
    (
        "web.flows",
        "(protocol = 6 AND dst_port = 443) OR (dst_port = 53 AND protocol = 17)",
    ),
    (
        "web_v6.v6",
        "protocol = 6 AND dst_port = 443 AND ip_version(src_addr) = 6",
    ),
];

fn totals(node: &Standalone, table: &str, filter: &str) -> anyhow::Result<String> {
    let rows = node.sql_remote(&format!(
        "SELECT count(*) AS n, sum(packets) AS p, sum(bytes) AS b FROM {table} WHERE {filter}"
    ))?;
    Ok(rows.first().map(|r| r.to_string()).unwrap_or_default())
}

#[test]
fn profiles_are_views_created_changed_kept_and_deleted_through_admin() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let node = Standalone::start(flowfold(), &data, &[])?;
    let summary = generate(&[
        "--target",
        &node.flow_addr().to_string(),
        "--exporters",
        "2",
        "--flows",
        &FLOWS.to_string(),
        "--rate",
        "30000",
        "--seed",
        "7",
        "--v6-share",
        "0.2",
    ])?;
    ensure!(summary["flows"].as_u64() == Some(FLOWS), "generator summary: {summary}");
    wait_for("every flow stored", Duration::from_secs(20), || {
        (stored_count(&node).ok()? == FLOWS).then_some(())
    })?;

    let admin = node.ready.metrics;
    create_web_profiles(admin)?;
    for (table, by_hand) in PROFILE_CASES {
        let view = totals(&node, table, "true")?;
        let hand = totals(&node, "live.flows", by_hand)?;
        ensure!(view == hand, "{table}: {view} but by hand {hand}");
        ensure!(!view.contains("\"n\":0"), "{table} selects nothing: {view}");
    }
    let listing = admin_profile(admin, &["list"]).map_err(anyhow::Error::msg)?;
    ensure!(
        listing.contains("web_v6") && listing.contains("nfdump: proto tcp and dst port 443"),
        "{listing}"
    );

    // Refusals name the cause and change nothing.
    let err = admin_profile(admin, &["create", "bad", "--channel", "x=port http"]).unwrap_err();
    ensure!(
        err.contains("HTTP 400") && err.contains("at 5: expected a port number after 'port'"),
        "{err}"
    );
    let err = admin_profile(admin, &["change", "web", "--drop-channel", "https"]).unwrap_err();
    ensure!(err.contains("profile 'web_v6' reads its channel 'https'"), "{err}");
    let err = admin_profile(admin, &["delete", "web"]).unwrap_err();
    ensure!(err.contains("web_v6 are its children"), "{err}");

    // A change is visible to the next query; `flowfold top` reads profile channels.
    admin_profile(admin, &["change", "web", "--channel", "dns=dst port 53"]).map_err(anyhow::Error::msg)?;
    let dns = totals(&node, "web.dns", "true")?;
    ensure!(
        dns == totals(&node, "live.flows", "dst_port = 53")?,
        "changed dns: {dns}"
    );
    let top = |profile: &str, channel: &str, filter: Option<&str>| -> anyhow::Result<String> {
        let mut command = Command::new(flowfold());
        command.args([
            "top",
            "--connect",
            &node.ready.query.to_string(),
            "-s",
            "srcip",
            "--format",
            "csv",
        ]);
        command.args(["--profile", profile, "--channel", channel]);
        if let Some(filter) = filter {
            command.args(["--filter", filter]);
        }
        let out = command.env("FLOWFOLD_LOG", "warn").output()?;
        ensure!(out.status.success(), "top: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8(out.stdout)?)
    };
    let by_profile = top("web", "https", None)?;
    ensure!(by_profile.lines().count() > 2, "{by_profile}");
    ensure!(by_profile == top("live", "flows", Some("proto tcp and dst port 443"))?);

    // The catalog outlives the node.
    let before = totals(&node, "web_v6.flows", "true")?;
    node.stop()?;
    let node = Standalone::start(flowfold(), &data, &[])?;
    let after = totals(&node, "web_v6.flows", "true")?;
    ensure!(before == after, "after a restart {after}, before {before}");

    let admin = node.ready.metrics;
    admin_profile(admin, &["delete", "web_v6"]).map_err(anyhow::Error::msg)?;
    admin_profile(admin, &["delete", "web"]).map_err(anyhow::Error::msg)?;
    let gone = node
        .sql_remote("SELECT count(*) FROM web.https")
        .unwrap_err()
        .to_string();
    ensure!(gone.contains("not found"), "{gone}");
    let listing = admin_profile(admin, &["list", "--json"]).map_err(anyhow::Error::msg)?;
    let set: serde_json::Value = serde_json::from_str(&listing).context("list --json")?;
    ensure!(
        set["version"] == 5 && set["profiles"].as_object().is_some_and(|p| p.is_empty()),
        "{set}"
    );
    Ok(())
}
