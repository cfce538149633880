//! Retention in a running node: windows older than `max_age` are expired every
//! `check_interval` and removed `grace` later, counted in `flowfold_retention_*`, while recent
//! flows stay queryable.
//!
//! Old data comes from the generator's `--start-time` (epoch ms, hours ago): the node files a
//! flow in the window of its own `flow_start` as long as it is within `storage.max_lateness`
//! (30 days by default) of the moment it is stored, so flows from 3 hours ago land in windows
//! that ended 3 hours ago. Such windows are sealed at once (their end plus grace has passed).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;

use crate::{flowfold, generate, stored_count};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends `flows` flows from 2 exporters ending from `start_ms` on, over one minute.
fn send(node: &Standalone, flows: u64, start_ms: i64, seed: &str) -> anyhow::Result<()> {
    let summary = generate(&[
        "--target",
        &node.flow_addr().to_string(),
        "--exporters",
        "2",
        "--flows",
        &flows.to_string(),
        "--rate",
        "20000",
        "--seed",
        seed,
        "--formats",
        "v9,ipfix",
        "--start-time",
        &start_ms.to_string(),
        "--span-ms",
        "60000",
    ])?;
    anyhow::ensure!(summary["flows"].as_u64() == Some(flows), "generator summary: {summary}");
    Ok(())
}

/// Every file under `dir`, with its size.
fn walk(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if let Ok(meta) = entry.metadata() {
            out.push((path, meta.len()));
        }
    }
    out
}

/// Directories under `dir` without any entry.
fn empty_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    if entries.is_empty() {
        out.push(dir.to_path_buf());
    }
    for path in entries.iter().filter(|p| p.is_dir()) {
        out.extend(empty_dirs(path));
    }
    out
}

fn wait_stored(node: &Standalone, expected: u64) -> anyhow::Result<()> {
    wait_for("the flows to be stored", Duration::from_secs(30), || {
        (node.metric_sum("flowfold_flows_stored_total", &[]).ok()? as u64 >= expected).then_some(())
    })?;
    Ok(())
}

#[test]
fn a_running_node_removes_windows_older_than_max_age() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");

    // 1. Without retention: flows from 3 hours ago, sealed at stop. These files must go.
    let node = Standalone::start(flowfold(), &data, &[])?;
    send(&node, 2000, now_ms() - 3 * 3_600_000, "11")?;
    wait_stored(&node, 2000)?;
    node.stop()?;
    // The channels' outlier index (`engine::outliers`) is no flow data: it stays.
    let in_index = |p: &Path| p.components().any(|c| c.as_os_str() == engine::outliers::OUTLIERS_DIR);
    let old: Vec<_> = walk(&data.join("flows"))
        .into_iter()
        .filter(|(p, _)| !in_index(p))
        .collect();
    let is = |p: &Path, ext: &str| p.extension().is_some_and(|e| e == ext);
    anyhow::ensure!(
        !old.is_empty() && old.iter().all(|(p, _)| is(p, "parquet") || is(p, "rollup")),
        "only sealed windows and their rollups after a stop: {old:?}"
    );
    // Retention counts a window's rollups with it; the sums of an hour's or a day's rollups
    // (`hour-*`, `day-*`: a part's own rollups summed, when the flows span two windows) are
    // removed with the windows but not counted.
    let summed = |p: &Path| {
        engine::rollup::RollupFile::parse(p).is_some_and(|r| engine::rollup::PartSet::of_rollup(&r).is_some())
    };
    let old_bytes: u64 = old.iter().filter(|(p, _)| !summed(p)).map(|(_, b)| b).sum();
    let old_parts = old.iter().filter(|(p, _)| is(p, "parquet")).count();

    // 2. With retention (1 h, checked every second, removed 2 s after expiry): the old windows
    // are expired at start and removed by a run at least 2 s later.
    let config = tmp.path().join("retention.toml");
    std::fs::write(
        &config,
        "[retention]\nmax_age = \"1h\"\ncheck_interval = \"1s\"\ngrace = \"2s\"\n",
    )?;
    let node = Standalone::start(flowfold(), &data, &["--config", config.to_str().expect("utf-8")])?;
    let metric = |name: &str| node.metric_sum(name, &[]).unwrap_or(-1.0);
    let expired = || metric("flowfold_retention_bytes_expired_total");
    let freed = || metric("flowfold_retention_bytes_freed_total");
    wait_for("the old windows to be expired", Duration::from_secs(30), || {
        (expired() > 0.0).then_some(())
    })?;
    assert_eq!(expired(), old_bytes as f64, "bytes expired = the old files' sizes");
    wait_for("the old windows to be removed", Duration::from_secs(30), || {
        (freed() > 0.0).then_some(())
    })?;
    assert_eq!(freed(), old_bytes as f64, "bytes freed = the old files' sizes");
    assert_eq!(
        node.metric_sum("flowfold_retention_files_removed_total", &[])?,
        old_parts as f64
    );
    for (path, _) in &old {
        assert!(!path.exists(), "{} should be removed", path.display());
        assert!(!path.with_extension("expired").exists(), "{}'s marker", path.display());
    }
    assert!(node.metric_sum("flowfold_retention_runs_total", &[])? >= 2.0);
    assert_eq!(node.metric_sum("flowfold_retention_errors_total", &[])?, 0.0);

    // 3. Recent flows are kept; old flows arriving while the node runs are removed within a
    // few checks of being sealed.
    send(&node, 1000, now_ms() - 60_000, "12")?;
    wait_stored(&node, 1000)?;
    send(&node, 500, now_ms() - 2 * 3_600_000, "13")?;
    wait_stored(&node, 1500)?;
    // Files (sealed, logs or expiry markers) of windows that started more than an hour ago.
    let cutoff = now_ms() - 3_600_000;
    let old_left = || {
        walk(&data.join("flows"))
            .into_iter()
            .filter(|(p, _)| {
                engine::layout::classify(p)
                    .and_then(|(_, stem)| engine::layout::WindowName::parse(stem))
                    .is_some_and(|name| name.start_ms < cutoff)
            })
            .count()
    };
    // The files go, and emptied directories with them, before the run is counted: wait for all.
    let files_removed = || metric("flowfold_retention_files_removed_total");
    wait_for("the late old windows to be removed", Duration::from_secs(30), || {
        let counted = freed() > old_bytes as f64 && files_removed() > old_parts as f64;
        let pruned = empty_dirs(&data.join("flows")).is_empty();
        (counted && stored_count(&node).ok()? == 1000 && old_left() == 0 && pruned).then_some(())
    })?;
    assert!(expired() > old_bytes as f64, "the late windows were expired first");
    node.stop()?;
    assert_eq!(stored_count_after_stop(&data)?, 1000);
    Ok(())
}

/// Flows in the data directory once no node runs.
fn stored_count_after_stop(data: &Path) -> anyhow::Result<u64> {
    let rows = flowfold_tests::node::sql(flowfold(), data, "SELECT count(*) AS n FROM flows")?;
    Ok(rows.first().and_then(|r| r["n"].as_u64()).unwrap_or(0))
}

/// Sealed Parquet files under one exporter's channel directory.
fn sealed_files(data: &Path, exporter: &str) -> usize {
    walk(&data.join("flows").join(format!("exporter={exporter}")))
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "parquet"))
        .count()
}

#[test]
fn a_profile_keeps_the_channels_it_reads_longer_than_the_node() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");

    // Flows of two exporters from 3 hours ago, sealed; a profile reading the first one wants 4 h.
    let node = Standalone::start(flowfold(), &data, &[])?;
    send(&node, 2000, now_ms() - 3 * 3_600_000, "21")?;
    wait_stored(&node, 2000)?;
    let per_exporter =
        node.sql_remote("SELECT ip_text(exporter) AS e, count(*) AS n FROM flows GROUP BY 1 ORDER BY 1")?;
    anyhow::ensure!(per_exporter.len() == 2, "two exporters: {per_exporter:?}");
    let first = per_exporter[0]["e"].as_str().unwrap_or_default().to_string();
    let second = per_exporter[1]["e"].as_str().unwrap_or_default().to_string();
    let first_flows = per_exporter[0]["n"].as_u64().unwrap_or_default();
    let out = std::process::Command::new(flowfold())
        .args([
            "admin",
            "profile",
            "create",
            "keep",
            "--source",
            &first,
            "--channel",
            "all=any",
        ])
        .args(["--max-age", "4h", "--node", &node.ready.metrics.to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    node.stop()?;
    let first_files = sealed_files(&data, &first);
    anyhow::ensure!(
        first_files > 0 && sealed_files(&data, &second) > 0,
        "sealed windows of both"
    );

    // The node keeps 1 h: the second exporter's windows go, the profile keeps the first's.
    let config = tmp.path().join("retention.toml");
    std::fs::write(
        &config,
        "[retention]\nmax_age = \"1h\"\ncheck_interval = \"1s\"\ngrace = \"0s\"\n",
    )?;
    let node = Standalone::start(flowfold(), &data, &["--config", config.to_str().expect("utf-8")])?;
    wait_for("the second exporter's windows to go", Duration::from_secs(30), || {
        (sealed_files(&data, &second) == 0).then_some(())
    })?;
    // One more run: still kept.
    let runs = node.metric_sum("flowfold_retention_runs_total", &[])?;
    wait_for("another retention run", Duration::from_secs(30), || {
        (node.metric_sum("flowfold_retention_runs_total", &[]).ok()? > runs).then_some(())
    })?;
    assert_eq!(
        sealed_files(&data, &first),
        first_files,
        "the profile's channel is kept"
    );
    let kept = node.sql_remote("SELECT count(*) AS n FROM keep.all")?;
    assert_eq!(
        kept[0]["n"].as_u64(),
        Some(first_flows),
        "the profile still reads all of it"
    );
    assert_eq!(stored_count(&node)?, first_flows);
    Ok(())
}

/// A slave following a master applies the retention wishes of the master's profiles: the
/// profile, created on the master before any flow arrives, reaches the slave over the control
/// plane; the slave keeps 1 h itself, so the old windows of the exporter no profile reads go
/// (their bytes counted as freed) while those the profile reads stay, and its view has them all.
#[test]
fn a_slave_keeps_what_its_masters_profiles_read() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let master = flowfold_tests::master::Master::start(flowfold(), tmp.path(), "127.0.0.160", "")?;
    let control = master.control.expect("the ready file names the control address");
    let out = std::process::Command::new(flowfold())
        .args(["admin", "profile", "create", "keep", "--source", "127.0.21.1"])
        .args(["--channel", "all=any", "--max-age", "4h"])
        .args(["--node", &master.metrics.to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let config = tmp.path().join("s1.toml");
    std::fs::write(
        &config,
        format!(
            "[control]\nmasters = [\"{control}\"]\nheartbeat = \"200ms\"\n\
             [retention]\nmax_age = \"1h\"\ncheck_interval = \"1s\"\ngrace = \"0s\"\n"
        ),
    )?;
    let config = config.to_string_lossy().into_owned();
    let slave = Standalone::start_slave_logged(
        flowfold(),
        &tmp.path().join("s1"),
        "s1",
        "127.0.0.161",
        &["--config", &config],
    )?;
    wait_for("the master's profile on the slave", Duration::from_secs(30), || {
        slave.sql_remote("SELECT count(*) AS n FROM keep.all").ok().map(|_| ())
    })?;

    let summary = generate(&[
        "--target",
        &slave.flow_addr().to_string(),
        "--exporters",
        "2",
        "--flows",
        "2000",
        "--rate",
        "20000",
        "--seed",
        "31",
        "--formats",
        "v9,ipfix",
        "--source-base",
        "127.0.21.1",
        "--start-time",
        &(now_ms() - 3 * 3_600_000).to_string(),
        "--span-ms",
        "60000",
    ])?;
    anyhow::ensure!(summary["flows"].as_u64() == Some(2000), "{summary}");
    wait_stored(&slave, 2000)?;
    let data = slave.data().to_path_buf();
    wait_for("the unread exporter's windows to go", Duration::from_secs(30), || {
        let freed = slave.metric_sum("flowfold_retention_bytes_freed_total", &[]).ok()?;
        (sealed_files(&data, "127.0.21.2") == 0 && freed > 0.0).then_some(())
    })?;
    let runs = slave.metric_sum("flowfold_retention_runs_total", &[])?;
    wait_for("another retention run", Duration::from_secs(30), || {
        (slave.metric_sum("flowfold_retention_runs_total", &[]).ok()? > runs).then_some(())
    })?;
    assert!(sealed_files(&data, "127.0.21.1") > 0, "the profile's channel is kept");
    let count = |sql: &str| -> anyhow::Result<u64> { Ok(slave.sql_remote(sql)?[0]["n"].as_u64().unwrap_or(0)) };
    let kept = count("SELECT count(*) AS n FROM keep.all")?;
    assert!(kept > 0 && kept < 2000, "{kept} flows of 127.0.21.1 kept");
    assert_eq!(
        count("SELECT count(*) AS n FROM live.flows")?,
        kept,
        "only 127.0.21.1's flows remain"
    );
    Ok(())
}
