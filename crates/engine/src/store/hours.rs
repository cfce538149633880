//! The directories whose summed rollups the seal thread refreshes when it has no window to
//! seal, one at a time so that a waiting window is never held up for long: the hour directories
//! it sealed a part into once their hour had passed, first (see [`crate::rollup::refresh_hour`]),
//! each once no part has been sealed into it for [`QUIET_MS`] (a bulk load of old flows seals an
//! hour's parts in a row: summed once, not after each);
//! then every passed hour found when the store opened (hours written before summed rollups
//! existed, or whose refresh a stop cut short); then the date directories of the passed days
//! among those hours (see [`crate::rollup::refresh_day`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use crate::layout::{DAY_MS, HOUR_MS, WindowName, flows_root, list_dirs, parse_date_dir, parse_hour_dir};
use crate::rollup::{STALE_GRACE, SumRefresh, refresh_day, refresh_hour};

/// Hour directories to refresh.
#[derive(Debug, Default)]
pub(crate) struct HourQueue {
    /// Sealed into since the store opened, after their hour: when last (ms).
    sealed: BTreeMap<PathBuf, i64>,
    /// Passed hours found at open.
    found: Vec<PathBuf>,
    /// Date directories of passed days whose hours were refreshed.
    days: BTreeSet<PathBuf>,
    /// Progress through `found`, for the log.
    backfill: Backfill,
}

/// Progress through the passed hours found at open.
#[derive(Debug, Default)]
struct Backfill {
    total: usize,
    done: usize,
    bytes: u64,
    /// When the store opened (`None`: nothing was found).
    started: Option<std::time::Instant>,
}

/// Every this many hours checked, the backfill logs its progress.
const PROGRESS_EVERY: usize = 1000;

/// How long an hour directory sealed into waits for more parts before it is summed.
pub(crate) const QUIET_MS: i64 = 5_000;

/// What refreshing did, for the seal counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Refreshed {
    pub bytes: u64,
    pub errors: u64,
}

impl HourQueue {
    /// A queue holding every hour directory under `data_dir` whose hour ended before `now_ms`.
    pub(crate) fn found_at_open(data_dir: &Path, now_ms: i64) -> Result<HourQueue> {
        let mut found = Vec::new();
        for (_, channel) in list_dirs(&flows_root(data_dir))? {
            for (name, date_dir) in list_dirs(&channel)? {
                let Some(day) = parse_date_dir(&name) else { continue };
                for (name, hour_dir) in list_dirs(&date_dir)? {
                    if parse_hour_dir(&name).is_some_and(|h| day + (h + 1) * HOUR_MS <= now_ms) {
                        found.push(hour_dir);
                    }
                }
            }
        }
        // Newest last: they are taken from the end, and recent hours are the likeliest asked.
        found.sort_unstable();
        if !found.is_empty() {
            tracing::info!(
                hours = found.len(),
                "checking the summed rollups of the passed hours, between windows"
            );
        }
        Ok(HourQueue {
            backfill: Backfill {
                total: found.len(),
                started: Some(std::time::Instant::now()),
                ..Backfill::default()
            },
            found,
            ..HourQueue::default()
        })
    }

    /// Notes the part just sealed at `stem` (a path without extension) at `now_ms`: its directory
    /// is refreshed later if its hour has ended.
    pub(crate) fn sealed(&mut self, stem: &Path, now_ms: i64) {
        let start = stem.file_name().and_then(|n| n.to_str()).and_then(WindowName::parse);
        if let (Some(window), Some(dir)) = (start, stem.parent())
            && window.start_ms - window.start_ms.rem_euclid(HOUR_MS) + HOUR_MS <= now_ms
        {
            self.sealed.insert(dir.to_path_buf(), now_ms);
        }
    }

    /// How long until there is something to refresh at `now_ms` (zero: now); `None` if nothing
    /// is queued.
    pub(crate) fn ready_in(&self, now_ms: i64) -> Option<Duration> {
        if !self.found.is_empty() || (self.sealed.is_empty() && !self.days.is_empty()) {
            return Some(Duration::ZERO);
        }
        let quiet_at = self.sealed.values().map(|last| last + QUIET_MS).min()?;
        Some(Duration::from_millis(quiet_at.saturating_sub(now_ms).max(0) as u64))
    }

    /// Refreshes one directory if one is ready at `now_ms`: a quiet sealed-into hour, else a
    /// found hour, else (once no sealed-into hour waits) a day.
    pub(crate) fn refresh_one(&mut self, now_ms: i64) -> Refreshed {
        let quiet = self
            .sealed
            .iter()
            .find(|(_, last)| **last + QUIET_MS <= now_ms)
            .map(|(dir, _)| dir.clone());
        if let Some(hour) = quiet {
            self.sealed.remove(&hour);
            return self.refresh_hour(&hour, now_ms);
        }
        if let Some(hour) = self.found.pop() {
            let done = self.refresh_hour(&hour, now_ms);
            self.backfill.progress(done.bytes, self.found.is_empty());
            return done;
        }
        match self.days.pop_last() {
            Some(day) if self.sealed.is_empty() => counted(&day, refresh_day(&day, STALE_GRACE)),
            Some(day) => {
                self.days.insert(day);
                Refreshed::default()
            }
            None => Refreshed::default(),
        }
    }

    /// Refreshes the hours sealed into, quiet or not, and their days (at close; those found at
    /// open wait for the next).
    pub(crate) fn refresh_sealed(&mut self, now_ms: i64) -> Refreshed {
        self.found.clear();
        let mut done = Vec::new();
        for hour in std::mem::take(&mut self.sealed).into_keys() {
            done.push(self.refresh_hour(&hour, now_ms));
        }
        while let Some(day) = self.days.pop_last() {
            done.push(counted(&day, refresh_day(&day, STALE_GRACE)));
        }
        done.into_iter().fold(Refreshed::default(), |sum, one| Refreshed {
            bytes: sum.bytes + one.bytes,
            errors: sum.errors + one.errors,
        })
    }

    fn refresh_hour(&mut self, hour: &Path, now_ms: i64) -> Refreshed {
        let day = hour.parent().filter(|d| {
            let name = d.file_name().and_then(|n| n.to_str());
            name.and_then(parse_date_dir)
                .is_some_and(|start| start + DAY_MS <= now_ms)
        });
        if let Some(day) = day {
            self.days.insert(day.to_path_buf());
        }
        counted(hour, refresh_hour(hour, STALE_GRACE))
    }
}

impl Backfill {
    /// One more hour checked, with `bytes` of summed rollups written; logs every
    /// [`PROGRESS_EVERY`] hours and at the `last`.
    fn progress(&mut self, bytes: u64, last: bool) {
        self.done += 1;
        self.bytes += bytes;
        if last || self.done.is_multiple_of(PROGRESS_EVERY) {
            tracing::info!(
                done = self.done,
                hours = self.total,
                bytes_written = self.bytes,
                seconds = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64()),
                "summed rollups of passed hours checked"
            );
        }
    }
}

fn counted(dir: &Path, done: Result<SumRefresh>) -> Refreshed {
    match done {
        Ok(done) => Refreshed {
            bytes: done.bytes,
            errors: 0,
        },
        // Removed meanwhile by retention: nothing to refresh.
        Err(_) if !dir.exists() => Refreshed::default(),
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err,
                "summed rollups not refreshed; the parts' own rollups are read");
            Refreshed { bytes: 0, errors: 1 }
        }
    }
}

#[cfg(test)]
mod tests;
