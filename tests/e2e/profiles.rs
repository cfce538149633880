//! Sub-profiles through the real binary: `flowfold admin profile` against a running node's admin
//! endpoint, the profile's tables through Flight SQL and `flowfold top`, the catalog kept across
//! a restart, and clear refusals. (The master's side is in `distributed.rs`.)

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use engine::layout;
use engine::rollup::ROLLUP_EXT;
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

/// Bytes and number of the files of an exporter's channel whose extension is one of `extensions`.
fn channel_files(data: &std::path::Path, exporter: &str, extensions: &[&str]) -> (u64, usize) {
    fn walk(dir: &std::path::Path, endings: &[String], total: &mut (u64, usize)) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            // Sums of an hour's or a day's rollups are derived files, written between windows:
            // not a window's bytes (retention does not count them either).
            let summed = engine::rollup::RollupFile::parse(&path)
                .is_some_and(|r| engine::rollup::PartSet::of_rollup(&r).is_some());
            if path.is_dir() {
                walk(&path, endings, total);
            } else if !summed && endings.iter().any(|e| path.to_string_lossy().ends_with(e.as_str())) {
                total.0 += entry.metadata().map(|m| m.len()).unwrap_or(0);
                total.1 += 1;
            }
        }
    }
    let endings: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
    let mut total = (0, 0);
    walk(
        &data.join("flows").join(format!("exporter={exporter}")),
        &endings,
        &mut total,
    );
    total
}

/// Sealed bytes (Parquet windows and their rollups) under one exporter's channel directory.
fn sealed_bytes(data: &std::path::Path, exporter: &str) -> u64 {
    channel_files(data, exporter, &[layout::SEALED_EXT, ROLLUP_EXT]).0
}

/// Whether every window of the exporter is sealed: no open window (write-ahead log) and no seal
/// in progress is left, and some data is sealed.
fn all_sealed(data: &std::path::Path, exporter: &str) -> bool {
    channel_files(data, exporter, &[layout::WAL_EXT, layout::SEAL_TMP_EXT]).1 == 0 && sealed_bytes(data, exporter) > 0
}

#[test]
fn deleting_a_flow_source_removes_its_channel_and_keeps_what_profiles_read() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let node = Standalone::start(flowfold(), &data, &[])?;
    // Three hours ago: the windows are sealed at once (their end is long past).
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        - 3 * 3_600_000;
    let summary = generate(&[
        "--target",
        &node.flow_addr().to_string(),
        "--exporters",
        "3",
        "--source-base",
        "127.0.2.1",
        "--flows",
        "3000",
        "--rate",
        "30000",
        "--seed",
        "9",
        "--start-time",
        &start.to_string(),
    ])?;
    ensure!(summary["flows"].as_u64() == Some(3000), "generator summary: {summary}");
    let per_exporter = |node: &Standalone| -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        let rows = node.sql_remote("SELECT ip_text(exporter) AS e, count(*) AS n FROM live.flows GROUP BY 1")?;
        Ok(rows
            .iter()
            .map(|r| (r["e"].as_str().unwrap_or("").to_string(), r["n"].as_u64().unwrap_or(0)))
            .collect())
    };
    let counts = wait_for("every flow stored and sealed", Duration::from_secs(30), || {
        let counts = per_exporter(&node).ok()?;
        // Several windows are sealed one after another: wait for the last of them.
        let sealed = ["127.0.2.1", "127.0.2.2"].iter().all(|e| all_sealed(&data, e));
        (counts.values().sum::<u64>() == 3000 && sealed).then_some(counts)
    })?;
    let admin = node.ready.metrics;
    admin_profile(
        admin,
        &["create", "keeper", "--source", "127.0.2.2", "--channel", "all=any"],
    )
    .map_err(anyhow::Error::msg)?;

    let source = |args: &[&str]| -> anyhow::Result<serde_json::Value> {
        let out = Command::new(flowfold())
            .args(["admin", "source"])
            .args(args)
            .args(["--node", &admin.to_string()])
            .env("FLOWFOLD_LOG", "warn")
            .output()?;
        ensure!(
            out.status.success(),
            "admin source {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(serde_json::from_str(String::from_utf8(out.stdout)?.trim())?)
    };
    // Nobody reads 127.0.2.1: its sealed windows are expired at once (no query planned from now
    // on lists them) and their files stay for the grace (the query timeout, 5m by default) so
    // queries already reading them finish.
    let before = sealed_bytes(&data, "127.0.2.1");
    let deleted = source(&["delete", "127.0.2.1"])?;
    ensure!(deleted["kept_for"] == serde_json::json!([]), "{deleted}");
    ensure!(
        deleted["bytes_expired"].as_u64() == Some(before) && deleted["bytes_freed"].as_u64() == Some(0),
        "{deleted}, {before} bytes were sealed"
    );
    ensure!(sealed_bytes(&data, "127.0.2.1") == before, "removed before the grace");
    let one = engine::snapshot::Channels::Only([engine::addr::from_ip("127.0.2.1".parse()?)].into());
    let listed = engine::FlowSnapshot::take_channels(&data, &one)?;
    ensure!(
        listed.parquet_files.is_empty(),
        "queries still list {:?}",
        listed.parquet_files
    );
    let gone = node
        .sql_remote("SELECT count(*) FROM live.exporter_127_0_2_1")
        .unwrap_err()
        .to_string();
    ensure!(gone.contains("not found"), "{gone}");

    // keeper names 127.0.2.2: it leaves live, its data stays for keeper.
    let bytes_two = sealed_bytes(&data, "127.0.2.2");
    let deleted = source(&["delete", "127.0.2.2"])?;
    ensure!(deleted["kept_for"] == serde_json::json!(["keeper"]), "{deleted}");
    ensure!(sealed_bytes(&data, "127.0.2.2") == bytes_two, "kept data was touched");
    let live = per_exporter(&node)?;
    ensure!(
        live.keys().collect::<Vec<_>>() == ["127.0.2.3"],
        "live still shows {live:?}"
    );
    let kept = node.sql_remote("SELECT count(*) AS n FROM keeper.all")?;
    ensure!(
        kept[0]["n"].as_u64() == counts.get("127.0.2.2").copied(),
        "keeper reads {kept:?}"
    );
    let listed = source(&["deleted"])?;
    ensure!(listed["deleted"].as_object().is_some_and(|d| d.len() == 2), "{listed}");

    source(&["restore", "127.0.2.2"])?;
    let live = per_exporter(&node)?;
    ensure!(live.get("127.0.2.2") == counts.get("127.0.2.2"), "restored: {live:?}");

    // After the grace the retention thread removes the expired files (here: a restart with a
    // zero grace, whose first run frees them at once).
    node.stop()?;
    let config = tmp.path().join("grace.toml");
    std::fs::write(&config, "[retention]\ngrace = \"0s\"\n")?;
    let node = Standalone::start(flowfold(), &data, &["--config", config.to_str().context("utf-8")?])?;
    let freed = wait_for("the expired windows to be removed", Duration::from_secs(30), || {
        let freed = node.metric_sum("flowfold_retention_bytes_freed_total", &[]).ok()?;
        (freed > 0.0).then_some(freed)
    })?;
    ensure!(freed == before as f64, "freed {freed} bytes, {before} were expired");
    ensure!(sealed_bytes(&data, "127.0.2.1") == 0, "windows left behind");
    ensure!(
        sealed_bytes(&data, "127.0.2.2") == bytes_two,
        "restored data was touched"
    );
    let mut kept = counts.clone();
    kept.remove("127.0.2.1");
    let live = per_exporter(&node)?;
    ensure!(live == kept, "after the removal live shows {live:?}");
    Ok(())
}
