//! What a retention run expired and removed (or would), per channel, and what went wrong.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Action;
use super::decide::{Doomed, Reason};
use super::expire::Expiry;
use super::inventory::Channel;
use crate::addr::Addr16;
use crate::error::EngineError;

/// What went wrong on one file or directory (the run went on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// A directory inside a channel could not be listed (its windows were kept).
    List,
    /// A sealed file could not be sized (its window was kept).
    Stat,
    /// An expiry marker could not be written (the part stays visible; the next run tries again).
    Expire,
    /// An expiry marker could not be read (the part stays hidden and on disk).
    Marker,
    /// A sealed file or its marker could not be deleted.
    Remove,
    /// An empty directory could not be removed.
    RemoveDir,
    /// A directory could not be fsynced after its entries changed.
    SyncDir,
}

impl IssueKind {
    /// A short name for metric labels: `list`, `stat`, `expire`, `marker`, `remove`,
    /// `remove_dir`, `sync_dir`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::List => "list",
            IssueKind::Stat => "stat",
            IssueKind::Expire => "expire",
            IssueKind::Marker => "marker",
            IssueKind::Remove => "remove",
            IssueKind::RemoveDir => "remove_dir",
            IssueKind::SyncDir => "sync_dir",
        }
    }
}

/// One failure of a retention run.
#[derive(Debug)]
pub struct RetentionIssue {
    /// What was being done.
    pub kind: IssueKind,
    /// The error, with the path it concerned.
    pub error: EngineError,
}

impl RetentionIssue {
    pub(crate) fn io(kind: IssueKind, op: &'static str, path: &Path, e: std::io::Error) -> RetentionIssue {
        RetentionIssue {
            kind,
            error: EngineError::io(op, path)(e),
        }
    }
}

/// One window expired by a run (or, in a dry run, to be expired): hidden from new queries from
/// then on, its files removed once the grace has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredWindow {
    /// Window start, ms since the epoch.
    pub start_ms: i64,
    /// Why it was expired.
    pub reason: Reason,
    /// Its sealed files that were expired.
    pub files: Vec<PathBuf>,
    /// Their size.
    pub bytes_expired: u64,
}

impl ExpiredWindow {
    pub(crate) fn new(d: &Doomed) -> ExpiredWindow {
        ExpiredWindow {
            start_ms: d.start_ms,
            reason: d.reason,
            files: Vec::new(),
            bytes_expired: 0,
        }
    }
}

/// The expired files of one window that a run removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreedWindow {
    /// Window start, ms since the epoch.
    pub start_ms: i64,
    /// Its sealed files that were removed.
    pub files: Vec<PathBuf>,
    /// Their size.
    pub bytes_freed: u64,
}

impl FreedWindow {
    pub(crate) fn new(start_ms: i64) -> FreedWindow {
        FreedWindow {
            start_ms,
            files: Vec::new(),
            bytes_freed: 0,
        }
    }
}

/// One channel after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelReport {
    /// The channel's exporter.
    pub exporter: Addr16,
    /// Windows expired by this run, oldest first.
    pub expired: Vec<ExpiredWindow>,
    /// Windows whose expired files this run removed, oldest first.
    pub freed: Vec<FreedWindow>,
    /// Windows with sealed data kept (not expired).
    pub windows_kept: usize,
    /// Sealed bytes kept (not expired): what queries read.
    pub bytes_kept: u64,
    /// Start (ms) of the oldest sealed window kept, if any.
    pub oldest_kept_ms: Option<i64>,
    /// Bytes of expired files still on disk after the run, waiting for the grace.
    pub bytes_pending: u64,
}

impl ChannelReport {
    /// Files expired by this run.
    pub fn files_expired(&self) -> usize {
        self.expired.iter().map(|w| w.files.len()).sum()
    }

    /// Bytes expired by this run.
    pub fn bytes_expired(&self) -> u64 {
        self.expired.iter().map(|w| w.bytes_expired).sum()
    }

    /// Files removed.
    pub fn files_removed(&self) -> usize {
        self.freed.iter().map(|w| w.files.len()).sum()
    }

    /// Bytes freed.
    pub fn bytes_freed(&self) -> u64 {
        self.freed.iter().map(|w| w.bytes_freed).sum()
    }
}

/// What one [`enforce`](super::enforce) run did.
#[derive(Debug)]
pub struct RetentionReport {
    /// `true` for a dry run: the files were only listed.
    pub dry_run: bool,
    /// The time the rules were applied at, ms since the epoch.
    pub now_ms: i64,
    /// How long expired files were kept before removal.
    pub grace: Duration,
    /// Every channel seen, by exporter.
    pub channels: Vec<ChannelReport>,
    /// Failures on single files or directories.
    pub issues: Vec<RetentionIssue>,
}

impl RetentionReport {
    /// Windows expired over all channels.
    pub fn windows_expired(&self) -> usize {
        self.channels.iter().map(|c| c.expired.len()).sum()
    }

    /// Files expired over all channels.
    pub fn files_expired(&self) -> usize {
        self.channels.iter().map(ChannelReport::files_expired).sum()
    }

    /// Bytes expired over all channels.
    pub fn bytes_expired(&self) -> u64 {
        self.channels.iter().map(ChannelReport::bytes_expired).sum()
    }

    /// Windows whose expired files were removed, over all channels.
    pub fn windows_freed(&self) -> usize {
        self.channels.iter().map(|c| c.freed.len()).sum()
    }

    /// Files removed over all channels.
    pub fn files_removed(&self) -> usize {
        self.channels.iter().map(ChannelReport::files_removed).sum()
    }

    /// Bytes freed over all channels.
    pub fn bytes_freed(&self) -> u64 {
        self.channels.iter().map(ChannelReport::bytes_freed).sum()
    }

    /// Sealed bytes kept (not expired) over all channels.
    pub fn bytes_kept(&self) -> u64 {
        self.channels.iter().map(|c| c.bytes_kept).sum()
    }

    /// Bytes of expired files still on disk over all channels.
    pub fn bytes_pending(&self) -> u64 {
        self.channels.iter().map(|c| c.bytes_pending).sum()
    }

    /// The report of `exporter`'s channel.
    pub fn channel(&self, exporter: &Addr16) -> Option<&ChannelReport> {
        self.channels.iter().find(|c| &c.exporter == exporter)
    }
}

/// What one run did, for [`build`].
pub(crate) struct Outcome {
    /// Windows expired.
    pub expired: Vec<Expiry>,
    /// Expired files removed: (channel index, window).
    pub freed: Vec<(usize, FreedWindow)>,
    /// Failures.
    pub issues: Vec<RetentionIssue>,
}

/// Puts the report together from the inventory and what the run did.
pub(crate) fn build(
    channels: &[Channel],
    outcome: Outcome,
    now_ms: i64,
    grace: Duration,
    action: Action,
) -> RetentionReport {
    let mut reports: Vec<ChannelReport> = channels
        .iter()
        .map(|c| ChannelReport {
            exporter: c.exporter,
            expired: Vec::new(),
            freed: Vec::new(),
            windows_kept: 0,
            bytes_kept: 0,
            oldest_kept_ms: None,
            bytes_pending: c.windows.values().map(|w| w.expired_bytes()).sum(),
        })
        .collect();
    for expiry in outcome.expired {
        let report = &mut reports[expiry.channel];
        report.bytes_pending += expiry.window.bytes_expired;
        report.expired.push(expiry.window);
    }
    for (i, window) in outcome.freed {
        let report = &mut reports[i];
        report.bytes_pending = report.bytes_pending.saturating_sub(window.bytes_freed);
        // Only a lone marker was removed (its file went in an earlier run): nothing to report.
        if !window.files.is_empty() {
            report.freed.push(window);
        }
    }
    for (channel, report) in channels.iter().zip(&mut reports) {
        let gone: HashSet<i64> = report.expired.iter().map(|w| w.start_ms).collect();
        for (start, window) in &channel.windows {
            if gone.contains(start) || window.parts.is_empty() {
                continue;
            }
            report.windows_kept += 1;
            report.bytes_kept += window.bytes();
            report.oldest_kept_ms = Some(report.oldest_kept_ms.map_or(*start, |o| o.min(*start)));
        }
    }
    RetentionReport {
        dry_run: action == Action::DryRun,
        now_ms,
        grace,
        channels: reports,
        issues: outcome.issues,
    }
}
