//! The node's retention thread: enforces the `[retention]` limits over the data directory once at
//! start and then every `check_interval`, on its own thread, so ingest never waits on deletions
//! (the writer thread only appends and seals). A window that goes is expired first (hidden from
//! new queries) and removed by the first run at least `grace` later (see
//! `engine::store::retention`). Each run is counted and logged together.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use engine::layout::list_exporters;
use engine::profiles::{ProfileCatalog, retention_rules};
use engine::store::retention::{Action, RetentionReport, RetentionRules, RetentionRun, enforce};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label of a retention error: what failed (`list`, `stat`, `expire`, `marker`, `remove`,
/// `remove_dir`, `sync_dir`, or `run` when the flow table could not be listed at all).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorKindLabel {
    /// The kind of failure.
    pub kind: String,
}

/// Retention counters (`flowfold_retention_*`).
#[derive(Debug, Default)]
pub struct RetentionMetrics {
    /// Runs finished (with or without errors).
    pub runs: Counter,
    /// Bytes of sealed windows expired (hidden from new queries).
    pub bytes_expired: Counter,
    /// Sealed files removed.
    pub files_removed: Counter,
    /// Bytes freed.
    pub bytes_freed: Counter,
    /// Failures, by kind.
    pub errors: Family<ErrorKindLabel, Counter>,
    /// Sealed bytes kept (not expired) after the last run.
    pub sealed_bytes: Gauge,
    /// Bytes of expired windows still on disk after the last run, waiting for the grace.
    pub expired_bytes: Gauge,
}

impl RetentionMetrics {
    /// Fresh counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers every counter in the node's registry.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        registry.register("flowfold_retention_runs", "Retention runs", self.runs.clone());
        registry.register(
            "flowfold_retention_bytes_expired",
            "Bytes of sealed windows expired by retention (hidden from new queries, removed after the grace)",
            self.bytes_expired.clone(),
        );
        registry.register(
            "flowfold_retention_files_removed",
            "Sealed window files removed by retention",
            self.files_removed.clone(),
        );
        registry.register(
            "flowfold_retention_bytes_freed",
            "Bytes of sealed windows removed by retention",
            self.bytes_freed.clone(),
        );
        registry.register(
            "flowfold_retention_errors",
            "Retention failures, by kind",
            self.errors.clone(),
        );
        registry.register(
            "flowfold_retention_sealed_bytes",
            "Sealed bytes kept (not expired) after the last retention run",
            self.sealed_bytes.clone(),
        );
        registry.register(
            "flowfold_retention_expired_bytes",
            "Bytes of expired windows still on disk after the last retention run, waiting for the grace",
            self.expired_bytes.clone(),
        );
    }

    fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&ErrorKindLabel { kind: kind.to_string() })
            .inc();
    }

    /// Counts and logs one run.
    pub fn record(&self, report: &RetentionReport) {
        self.runs.inc();
        self.bytes_expired.inc_by(report.bytes_expired());
        self.files_removed.inc_by(report.files_removed() as u64);
        self.bytes_freed.inc_by(report.bytes_freed());
        self.sealed_bytes
            .set(i64::try_from(report.bytes_kept()).unwrap_or(i64::MAX));
        self.expired_bytes
            .set(i64::try_from(report.bytes_pending()).unwrap_or(i64::MAX));
        for issue in &report.issues {
            self.error(issue.kind.as_str());
            tracing::warn!(kind = issue.kind.as_str(), error = %issue.error, "retention");
        }
        if report.files_expired() > 0 {
            tracing::info!(
                windows = report.windows_expired(),
                files = report.files_expired(),
                bytes_expired = report.bytes_expired(),
                bytes_kept = report.bytes_kept(),
                grace = %humantime::format_duration(report.grace),
                "retention expired windows"
            );
        }
        if report.files_removed() > 0 {
            tracing::info!(
                windows = report.windows_freed(),
                files = report.files_removed(),
                bytes_freed = report.bytes_freed(),
                bytes_pending = report.bytes_pending(),
                "retention removed expired windows"
            );
        }
    }
}

/// What the retention thread enforces, where and how often.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The limits.
    pub rules: RetentionRules,
    /// The store's window length (a window ends at its start plus this).
    pub window: Duration,
    /// Time between runs.
    pub interval: Duration,
    /// How long expired windows stay on disk before they are removed.
    pub grace: Duration,
    /// Profiles whose retention wishes extend `rules` for the channels they read (see
    /// `engine::profiles::retention_rules`), read afresh at every run.
    pub profiles: Option<Arc<ProfileCatalog>>,
}

impl RetentionSettings {
    /// The rules of a run now: `rules`, extended by the profiles' wishes.
    fn rules_now(&self) -> RetentionRules {
        let Some(profiles) = &self.profiles else {
            return self.rules.clone();
        };
        let exporters = list_exporters(&self.data_dir).unwrap_or_default();
        retention_rules(&profiles.snapshot(), &self.rules, &exporters)
    }
}

/// The running retention thread.
#[derive(Debug)]
pub struct RetentionThread {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

impl RetentionThread {
    /// Starts the thread; `None` when the rules keep everything and there are no profiles
    /// (nothing to do).
    pub fn start(settings: RetentionSettings, metrics: Arc<RetentionMetrics>) -> std::io::Result<Option<Self>> {
        // Profiles can remove a deleted flow source's windows even when the node keeps everything.
        if settings.rules.keeps_everything() && settings.profiles.is_none() {
            return Ok(None);
        }
        let (stop, stopped) = mpsc::channel();
        let handle = std::thread::Builder::new().name("retention".into()).spawn(move || {
            loop {
                run_once(&settings, &metrics);
                match stopped.recv_timeout(settings.interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        })?;
        Ok(Some(RetentionThread { stop, handle }))
    }

    /// Stops the thread after its current run (blocking).
    pub fn stop(self) {
        let _ = self.stop.send(());
        if self.handle.join().is_err() {
            tracing::error!("the retention thread panicked");
        }
    }
}

fn run_once(settings: &RetentionSettings, metrics: &RetentionMetrics) {
    let now = engine::clock::now_ms();
    let run = RetentionRun {
        window: settings.window,
        grace: settings.grace,
        now_ms: now,
        action: Action::Remove,
    };
    match enforce(&settings.data_dir, &settings.rules_now(), run) {
        Ok(report) => metrics.record(&report),
        Err(e) => {
            metrics.runs.inc();
            metrics.error("run");
            tracing::error!(error = %e, "retention run failed");
        }
    }
}
