//! The directories whose summed rollups the seal thread refreshes when it has no window to
//! seal, one at a time so that a waiting window is never held up for long: the hour directories
//! it sealed a part into once their hour had passed, first (see [`crate::rollup::refresh_hour`]);
//! then every passed hour found when the store opened (hours written before summed rollups
//! existed, or whose refresh a stop cut short); then the date directories of the passed days
//! among those hours (see [`crate::rollup::refresh_day`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::layout::{DAY_MS, HOUR_MS, WindowName, flows_root, list_dirs, parse_date_dir, parse_hour_dir};
use crate::rollup::{STALE_GRACE, SumRefresh, refresh_day, refresh_hour};

/// Hour directories to refresh.
#[derive(Debug, Default)]
pub(crate) struct HourQueue {
    /// Sealed into since the store opened, after their hour.
    sealed: BTreeSet<PathBuf>,
    /// Passed hours found at open.
    found: Vec<PathBuf>,
    /// Date directories of passed days whose hours were refreshed.
    days: BTreeSet<PathBuf>,
}

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
        Ok(HourQueue {
            found,
            ..HourQueue::default()
        })
    }

    /// Notes the part just sealed at `stem` (a path without extension): its directory is
    /// refreshed later if its hour has ended by `now_ms`.
    pub(crate) fn sealed(&mut self, stem: &Path, now_ms: i64) {
        let start = stem.file_name().and_then(|n| n.to_str()).and_then(WindowName::parse);
        if let (Some(window), Some(dir)) = (start, stem.parent())
            && window.start_ms - window.start_ms.rem_euclid(HOUR_MS) + HOUR_MS <= now_ms
        {
            self.sealed.insert(dir.to_path_buf());
        }
    }

    /// Whether there is nothing to refresh.
    pub(crate) fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.found.is_empty() && self.days.is_empty()
    }

    /// Refreshes one directory: a sealed-into hour, else a found hour, else a day.
    pub(crate) fn refresh_one(&mut self, now_ms: i64) -> Refreshed {
        if let Some(hour) = self.sealed.pop_first().or_else(|| self.found.pop()) {
            return self.refresh_hour(&hour, now_ms);
        }
        match self.days.pop_last() {
            Some(day) => counted(&day, refresh_day(&day, STALE_GRACE)),
            None => Refreshed::default(),
        }
    }

    /// Refreshes the hours sealed into, and their days (at close; those found at open wait for
    /// the next).
    pub(crate) fn refresh_sealed(&mut self, now_ms: i64) -> Refreshed {
        self.found.clear();
        let mut out = Refreshed::default();
        while !self.is_empty() {
            let one = self.refresh_one(now_ms);
            out.bytes += one.bytes;
            out.errors += one.errors;
        }
        out
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
