//! Retention: removes whole sealed windows that fall outside a policy, oldest first (DESIGN
//! section 3: "Retention per profile (max age, max size) removes whole windows, oldest first").
//!
//! A run ([`enforce`]) takes an inventory of the flow table (`inventory`), decides which windows
//! go (`decide`, a pure function of the inventory, the rules and the time), expires them
//! (`expire`) and deletes what expired at least a grace ago (`remove`), pruning the directories
//! left empty. Three limits apply, in this order:
//!
//! 1. **age**, per channel: a sealed window whose end (start + window length) is before
//!    `now - max_age` goes;
//! 2. **size**, per channel: while the channel's sealed bytes exceed `max_bytes`, its oldest
//!    sealed window goes (every part of a window goes together);
//! 3. **total size**, store-wide ([`RetentionRules::max_total_bytes`], the node's disk cap):
//!    while all channels' sealed bytes exceed it, the oldest window of any channel goes (ties
//!    broken by exporter), whatever the per-channel policies allow.
//!
//! Only sealed Parquet (`.parquet`) counts and is deleted. Open-window logs (`.arrows`) and
//! seals in progress (`.parquet.tmp`) are never touched, and a window that still has one (a late
//! part being written or sealed) is kept until a later run; files with other names are ignored.
//! A failed step on one file is reported as a [`RetentionIssue`] and the run goes on.
//!
//! **Two phases, so running queries are never cut short.** A query lists a channel's Parquet
//! files when it is planned ([`crate::snapshot::FlowSnapshot`]) and reads them while it runs, and
//! `object_store`'s local store opens a file again for every byte range it reads: a file unlinked
//! under a running query fails it with "not found". Every query lists all windows of its channels
//! (time is pruned by statistics read from the files), so any long scan would be exposed. So a
//! window that goes is first **expired**: each of its parts gets a marker `<stem>.expired`
//! (holding the expiry time, ms), and from then on snapshots skip the part, the limits no longer
//! count it and no run decides it again. A later run **removes** the parts whose marker is at
//! least [`RetentionRun::grace`] old: the sealed file, then the marker. With a grace at least the
//! longest a query may run (the node uses its query timeout), a query that listed a window before
//! it was expired has finished, or was cancelled, before the window is unlinked. A zero grace
//! removes at once, without markers (offline use). A late part written into an expired window
//! gets a new part number (markers keep theirs taken) and no marker: it is a window part like any
//! other, decided by a later run.

mod decide;
mod expire;
mod inventory;
mod remove;
mod report;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::addr::Addr16;
use crate::error::{EngineError, Result};

pub use decide::Reason;
pub use report::{ChannelReport, ExpiredWindow, FreedWindow, IssueKind, RetentionIssue, RetentionReport};

/// Limits of one channel. `None` means no limit; the default keeps everything forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Windows whose end is older than this are removed.
    pub max_age: Option<Duration>,
    /// The channel's sealed bytes are kept at or below this, oldest windows removed first.
    pub max_bytes: Option<u64>,
}

impl RetentionPolicy {
    /// `true` if the policy removes nothing.
    pub fn keeps_everything(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none()
    }
}

/// The policies of every channel of a store: a default, per-exporter overrides (each replaces
/// the default entirely for its channel) and a store-wide size cap.
///
/// Per-exporter rules are plain data so a profile catalog can derive them (for each live
/// channel, the policy of the profile that owns it) with [`RetentionRules::with_exporter`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRules {
    /// The policy of every channel without an override.
    pub default: RetentionPolicy,
    /// Overrides by exporter.
    pub per_exporter: BTreeMap<Addr16, RetentionPolicy>,
    /// All channels' sealed bytes together are kept at or below this (the node's disk cap).
    pub max_total_bytes: Option<u64>,
}

impl RetentionRules {
    /// Rules applying `default` to every channel, without a store-wide cap.
    pub fn new(default: RetentionPolicy) -> RetentionRules {
        RetentionRules {
            default,
            ..RetentionRules::default()
        }
    }

    /// These rules with `policy` for the channel of `exporter`.
    pub fn with_exporter(mut self, exporter: Addr16, policy: RetentionPolicy) -> RetentionRules {
        self.per_exporter.insert(exporter, policy);
        self
    }

    /// These rules with a store-wide cap on sealed bytes.
    pub fn with_max_total_bytes(mut self, max: Option<u64>) -> RetentionRules {
        self.max_total_bytes = max;
        self
    }

    /// The policy of `exporter`'s channel.
    pub fn policy_for(&self, exporter: &Addr16) -> &RetentionPolicy {
        self.per_exporter.get(exporter).unwrap_or(&self.default)
    }

    /// `true` if no rule can remove anything (a run would only list files).
    pub fn keeps_everything(&self) -> bool {
        self.max_total_bytes.is_none()
            && self.default.keeps_everything()
            && self.per_exporter.values().all(RetentionPolicy::keeps_everything)
    }
}

/// Whether a run expires and deletes what it decides, or only reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Expire the windows, delete the expired ones past their grace, prune empty directories.
    Remove,
    /// Report what would be expired and removed; touch nothing.
    DryRun,
}

/// How one run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRun {
    /// The store's window length (`StoreConfig::window`): a window's end is its start (from the
    /// file name) plus it.
    pub window: Duration,
    /// How long an expired window stays on disk (readable by the queries that listed it before
    /// it expired) before it is removed; at least the longest a query may run. Zero removes at
    /// once.
    pub grace: Duration,
    /// The time the rules are applied at, ms since the epoch.
    pub now_ms: i64,
    /// Remove, or only report.
    pub action: Action,
}

/// Enforces `rules` over the flow table of `data_dir`: lists every channel, expires (or, for
/// [`Action::DryRun`], reports) the sealed windows outside the rules, oldest first, removes the
/// windows expired at least `run.grace` ago, and removes the hour, date and exporter directories
/// left empty.
///
/// Errors on single files or directories are collected in the report; only a data directory
/// whose flow table cannot be listed at all is an error.
pub fn enforce(data_dir: &Path, rules: &RetentionRules, run: RetentionRun) -> Result<RetentionReport> {
    let window_ms = millis(run.window);
    if window_ms <= 0 {
        return Err(EngineError::Config {
            setting: "window",
            reason: "retention needs a positive window length".into(),
        });
    }
    let grace_ms = millis(run.grace);
    let mut issues = Vec::new();
    let channels = inventory::take(data_dir, &mut issues)?;
    let doomed = decide::decide(&channels, rules, window_ms, run.now_ms);
    let expired = match run.action {
        Action::Remove => expire::expire(&channels, &doomed, run.now_ms, grace_ms > 0, &mut issues),
        Action::DryRun => expire::pretend(&channels, &doomed, run.now_ms),
    };
    let fresh: Vec<_> = expired
        .iter()
        .map(|e| (e.channel, e.window.start_ms, e.parts.clone()))
        .collect();
    let due = decide::due(&channels, &fresh, grace_ms, run.now_ms);
    let freed = match run.action {
        Action::Remove => remove::remove(data_dir, &due, &mut issues),
        Action::DryRun => remove::pretend(&due),
    };
    let outcome = report::Outcome {
        expired,
        freed: due.iter().map(|d| d.channel).zip(freed).collect(),
        issues,
    };
    Ok(report::build(&channels, outcome, run.now_ms, run.grace, run.action))
}

/// A duration in whole milliseconds, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
