//! What a retention run removed (or would remove), per channel, and what went wrong.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Action;
use super::decide::{Doomed, Reason};
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
    /// A sealed file could not be deleted.
    Remove,
    /// An empty directory could not be removed.
    RemoveDir,
    /// A directory could not be fsynced after its entries changed.
    SyncDir,
}

impl IssueKind {
    /// A short name for metric labels: `list`, `stat`, `remove`, `remove_dir`, `sync_dir`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::List => "list",
            IssueKind::Stat => "stat",
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

/// One window removed (or, in a dry run, to be removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedWindow {
    /// Window start, ms since the epoch.
    pub start_ms: i64,
    /// Why it was removed.
    pub reason: Reason,
    /// Its sealed files that were removed.
    pub files: Vec<PathBuf>,
    /// Their size.
    pub bytes_freed: u64,
}

impl RemovedWindow {
    pub(crate) fn new(d: &Doomed) -> RemovedWindow {
        RemovedWindow {
            start_ms: d.start_ms,
            reason: d.reason,
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
    /// Windows removed, oldest first.
    pub removed: Vec<RemovedWindow>,
    /// Windows with sealed data kept.
    pub windows_kept: usize,
    /// Sealed bytes kept.
    pub bytes_kept: u64,
    /// Start (ms) of the oldest sealed window kept, if any.
    pub oldest_kept_ms: Option<i64>,
}

impl ChannelReport {
    /// Files removed.
    pub fn files_removed(&self) -> usize {
        self.removed.iter().map(|w| w.files.len()).sum()
    }

    /// Bytes freed.
    pub fn bytes_freed(&self) -> u64 {
        self.removed.iter().map(|w| w.bytes_freed).sum()
    }
}

/// What one [`enforce`](super::enforce) run did.
#[derive(Debug)]
pub struct RetentionReport {
    /// `true` for a dry run: the files were only listed.
    pub dry_run: bool,
    /// The time the rules were applied at, ms since the epoch.
    pub now_ms: i64,
    /// Every channel seen, by exporter.
    pub channels: Vec<ChannelReport>,
    /// Failures on single files or directories.
    pub issues: Vec<RetentionIssue>,
}

impl RetentionReport {
    /// Files removed over all channels.
    pub fn files_removed(&self) -> usize {
        self.channels.iter().map(ChannelReport::files_removed).sum()
    }

    /// Bytes freed over all channels.
    pub fn bytes_freed(&self) -> u64 {
        self.channels.iter().map(ChannelReport::bytes_freed).sum()
    }

    /// Windows removed over all channels.
    pub fn windows_removed(&self) -> usize {
        self.channels.iter().map(|c| c.removed.len()).sum()
    }

    /// Sealed bytes kept over all channels.
    pub fn bytes_kept(&self) -> u64 {
        self.channels.iter().map(|c| c.bytes_kept).sum()
    }

    /// The report of `exporter`'s channel.
    pub fn channel(&self, exporter: &Addr16) -> Option<&ChannelReport> {
        self.channels.iter().find(|c| &c.exporter == exporter)
    }
}

/// Puts the report together from the inventory, the decision and the removals.
pub(crate) fn build(
    channels: &[Channel],
    doomed: &[Doomed],
    removed: Vec<RemovedWindow>,
    issues: Vec<super::RetentionIssue>,
    now_ms: i64,
    action: Action,
) -> RetentionReport {
    let mut reports: Vec<ChannelReport> = channels
        .iter()
        .map(|c| ChannelReport {
            exporter: c.exporter,
            removed: Vec::new(),
            windows_kept: 0,
            bytes_kept: 0,
            oldest_kept_ms: None,
        })
        .collect();
    for (d, window) in doomed.iter().zip(removed) {
        reports[d.channel].removed.push(window);
    }
    for (channel, report) in channels.iter().zip(&mut reports) {
        let gone: HashSet<i64> = report.removed.iter().map(|w| w.start_ms).collect();
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
        channels: reports,
        issues,
    }
}
