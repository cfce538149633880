//! `flowfold retention`: apply retention limits to a data directory once (the node may be
//! running) and print what was, or with `--dry-run` would be, expired and removed, and the bytes
//! freed. Windows that go are expired (hidden from new queries) and removed once `--grace` has
//! passed since, by this run or a later one (the node's own retention thread, or another run).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use engine::store::retention::{Action, RetentionReport, RetentionRun, enforce};
use serde_json::json;

use crate::cli::standalone::set;
use crate::config::NodeConfig;
use crate::config::units::{Bytes, Span};

/// Flags of `flowfold retention`. Limits come from `[retention]` of `--config` and the flags
/// (flags win); at least one limit is needed.
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// Node configuration file: its `data`, `storage.window` and `[retention]` limits.
    #[arg(long, env = "FLOWFOLD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory. [config: data]
    #[arg(long, env = "FLOWFOLD_DATA")]
    pub data: Option<PathBuf>,
    /// Remove sealed windows that ended longer ago than this. [config: retention.max_age]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_age: Option<Duration>,
    /// Keep all channels' sealed windows under this size, oldest removed first.
    /// [config: retention.max_bytes]
    #[arg(long, value_parser = crate::config::units::parse_size)]
    pub max_bytes: Option<usize>,
    /// Keep each channel's sealed windows under this size, oldest removed first.
    /// [config: retention.channel_max_bytes]
    #[arg(long, value_parser = crate::config::units::parse_size)]
    pub channel_max_bytes: Option<usize>,
    /// The store's window length. [config: storage.window; default 5m]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub window: Option<Duration>,
    /// How long expired windows stay on disk for queries still reading them; windows expired at
    /// least this long ago are removed. `0s` removes at once (no node running queries).
    /// [config: retention.grace, else query.timeout; default 5m]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub grace: Option<Duration>,
    /// Only print what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RetentionArgs) -> anyhow::Result<()> {
    let mut c = match &args.config {
        Some(path) => NodeConfig::load(path)?,
        None => NodeConfig::default(),
    };
    set(&mut c.data, args.data.clone().map(Some));
    set(&mut c.retention.max_age, args.max_age.map(|a| Some(Span(a))));
    set(&mut c.retention.max_bytes, args.max_bytes.map(|b| Some(Bytes(b))));
    set(
        &mut c.retention.channel_max_bytes,
        args.channel_max_bytes.map(|b| Some(Bytes(b))),
    );
    set(&mut c.storage.window, args.window.map(Span));
    set(&mut c.retention.grace, args.grace.map(|g| Some(Span(g))));
    c.retention.check()?;
    let data = c
        .data
        .context("no data directory: give --data DIR or `data = \"DIR\"` in the configuration file")?;
    let rules = c.retention.rules();
    if rules.keeps_everything() {
        anyhow::bail!("no limit given: set --max-age, --max-bytes or --channel-max-bytes (or [retention] in --config)");
    }
    let run = RetentionRun {
        window: c.storage.window.0,
        grace: c.retention.grace(c.query.timeout.0),
        now_ms: engine::clock::now_ms(),
        action: if args.dry_run { Action::DryRun } else { Action::Remove },
    };
    let report = enforce(&data, &rules, run).with_context(|| format!("retention over {}", data.display()))?;
    if args.json {
        println!("{}", to_json(&report));
    } else {
        print_text(&report);
    }
    if !report.issues.is_empty() {
        anyhow::bail!("{} file(s) or directories could not be handled", report.issues.len());
    }
    Ok(())
}

/// A window start as RFC 3339 text.
fn time(ms: i64) -> String {
    crate::output::utc_seconds(ms.max(0)).unwrap_or_default()
}

fn exporter_text(exporter: &[u8]) -> String {
    engine::addr::to_text(exporter).unwrap_or_default()
}

fn to_json(report: &RetentionReport) -> serde_json::Value {
    let paths = |files: &[PathBuf]| files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
    let channels: Vec<serde_json::Value> = report
        .channels
        .iter()
        .map(|c| {
            let expired: Vec<serde_json::Value> = c
                .expired
                .iter()
                .map(|w| {
                    json!({
                        "start": time(w.start_ms),
                        "reason": w.reason.as_str(),
                        "files": paths(&w.files),
                        "bytes": w.bytes_expired,
                    })
                })
                .collect();
            let removed: Vec<serde_json::Value> = c
                .freed
                .iter()
                .map(|w| json!({"start": time(w.start_ms), "files": paths(&w.files), "bytes": w.bytes_freed}))
                .collect();
            json!({
                "exporter": exporter_text(&c.exporter),
                "windows_expired": c.expired.len(),
                "files_expired": c.files_expired(),
                "bytes_expired": c.bytes_expired(),
                "windows_removed": c.freed.len(),
                "files_removed": c.files_removed(),
                "bytes_freed": c.bytes_freed(),
                "windows_kept": c.windows_kept,
                "bytes_kept": c.bytes_kept,
                "oldest_kept": c.oldest_kept_ms.map(time),
                "bytes_pending": c.bytes_pending,
                "expired": expired,
                "removed": removed,
            })
        })
        .collect();
    let issues: Vec<serde_json::Value> = report
        .issues
        .iter()
        .map(|i| json!({"kind": i.kind.as_str(), "error": i.error.to_string()}))
        .collect();
    json!({
        "dry_run": report.dry_run,
        "grace": humantime::format_duration(report.grace).to_string(),
        "windows_expired": report.windows_expired(),
        "files_expired": report.files_expired(),
        "bytes_expired": report.bytes_expired(),
        "windows_removed": report.windows_freed(),
        "files_removed": report.files_removed(),
        "bytes_freed": report.bytes_freed(),
        "bytes_kept": report.bytes_kept(),
        "bytes_pending": report.bytes_pending(),
        "channels": channels,
        "issues": issues,
    })
}

fn print_text(report: &RetentionReport) {
    let (expire, remove) = match report.dry_run {
        true => ("would expire", "would remove"),
        false => ("expired", "removed"),
    };
    for c in &report.channels {
        for w in &c.expired {
            for f in &w.files {
                println!("{expire} {} ({})", f.display(), w.reason.as_str());
            }
        }
        for w in &c.freed {
            for f in &w.files {
                println!("{remove} {}", f.display());
            }
        }
        println!(
            "{}: {expire} {} windows ({} bytes), {remove} {} files ({} bytes); kept {} windows ({} bytes), \
             oldest {}; {} expired bytes wait for the grace",
            exporter_text(&c.exporter),
            c.expired.len(),
            c.bytes_expired(),
            c.files_removed(),
            c.bytes_freed(),
            c.windows_kept,
            c.bytes_kept,
            c.oldest_kept_ms.map_or_else(|| "-".to_string(), time),
            c.bytes_pending,
        );
    }
    for issue in &report.issues {
        eprintln!("error ({}): {}", issue.kind.as_str(), issue.error);
    }
    println!(
        "total: {expire} {} files, {} bytes; {remove} {} files, {} bytes; {} bytes kept; {} expired bytes \
         wait for the grace ({})",
        report.files_expired(),
        report.bytes_expired(),
        report.files_removed(),
        report.bytes_freed(),
        report.bytes_kept(),
        report.bytes_pending(),
        humantime::format_duration(report.grace),
    );
}
