//! The hour directories whose hourly rollups (see [`crate::rollup::refresh_hour`]) the seal
//! thread refreshes when it has no window to seal: those it sealed a part into once their hour
//! had passed, first, then every passed hour found when the store opened (hours written before
//! hourly rollups existed, or whose refresh a stop cut short), one directory at a time so that
//! a waiting window is never held up for long.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::layout::{HOUR_MS, WindowName, flows_root, list_dirs, parse_date_dir, parse_hour_dir};
use crate::rollup::{STALE_GRACE, refresh_hour};

/// Hour directories to refresh.
#[derive(Debug, Default)]
pub(crate) struct HourQueue {
    /// Sealed into since the store opened, after their hour.
    sealed: BTreeSet<PathBuf>,
    /// Passed hours found at open.
    found: Vec<PathBuf>,
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
            sealed: BTreeSet::new(),
            found,
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
        self.sealed.is_empty() && self.found.is_empty()
    }

    /// Refreshes one directory (a sealed-into one first).
    pub(crate) fn refresh_one(&mut self) -> Refreshed {
        let dir = match self.sealed.pop_first() {
            Some(dir) => dir,
            None => match self.found.pop() {
                Some(dir) => dir,
                None => return Refreshed::default(),
            },
        };
        refresh(&dir)
    }

    /// Refreshes the directories sealed into (at close; those found at open wait for the next).
    pub(crate) fn refresh_sealed(&mut self) -> Refreshed {
        let mut out = Refreshed::default();
        while let Some(dir) = self.sealed.pop_first() {
            let one = refresh(&dir);
            out.bytes += one.bytes;
            out.errors += one.errors;
        }
        out
    }
}

fn refresh(dir: &Path) -> Refreshed {
    match refresh_hour(dir, STALE_GRACE) {
        Ok(done) => Refreshed {
            bytes: done.bytes,
            errors: 0,
        },
        // Removed meanwhile by retention: nothing to refresh.
        Err(_) if !dir.exists() => Refreshed::default(),
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err,
                "hourly rollups not refreshed; the hour's parts' own rollups are read");
            Refreshed { bytes: 0, errors: 1 }
        }
    }
}
