//! Hourly rollups: the rollups of an hour directory's sealed parts summed into one file per
//! kind, so that a query whose time range takes a whole hour reads one summary instead of one
//! per window part (a month of 5-minute windows: 8,640 files per channel and kind, 720 hourly).
//!
//! An hourly rollup's stem names the part set it sums, `hour-<parts>-<fingerprint>` (see
//! [`PartSet`]), and the rest of its name is a part rollup's:
//! `hour-12-<16 hex>.src.<first_start_ms>.<last_start_ms>.rollup`, the span covering every part's.
//! A query uses it only while the directory's sealed parts are exactly that set; a part sealed
//! late, or expired by retention, makes it stale, and the parts' own rollups are read until it
//! is written again. It is derived data like the parts' rollups: written atomically, removed by
//! retention before any part of its directory, and never needed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::part_set::{PartSet, SumLevel};
use super::sum::sum_rollups;
use super::{RollupFile, RollupKind, write_rollup};
use crate::error::{EngineError, Result};
use crate::layout::{FileKind, classify, stem_path, sync_dir};

/// What refreshing the summed rollups of a directory did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SumRefresh {
    /// Summed rollups written.
    pub written: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Stale summed rollups removed (past their grace).
    pub removed: usize,
}

/// How long a stale summed rollup stays: a query that listed it while it was current may still
/// be reading it (queries run for minutes at most; a later refresh removes it).
pub const STALE_GRACE: Duration = Duration::from_secs(3600);

/// One refresh at a time per process: two stores' seal threads over one directory would write
/// the same temporary file.
static REFRESH: Mutex<()> = Mutex::new(());

pub(super) fn one_refresh_at_a_time() -> MutexGuard<'static, ()> {
    REFRESH.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Brings the hourly rollups of the hour directory `dir` up to date with its sealed parts (those
/// without a retention marker): for each kind whose every part has exactly one rollup, writes
/// the sum of those rollups unless it is there already, and removes the hourly rollups of any
/// other part set last modified over `stale_grace` ago. A directory of one part gets none (its
/// part's rollup serves as well).
pub fn refresh_hour(dir: &Path, stale_grace: Duration) -> Result<SumRefresh> {
    let _one = one_refresh_at_a_time();
    let listing = HourListing::read(dir)?;
    let set = listing.part_set();
    let mut sums = SummedFiles::new(dir, set, listing.hourly.clone());
    if set.parts > 1 {
        for kind in RollupKind::ALL {
            if let Some(rollups) = listing.rollups_of(kind) {
                sums.write(kind, &rollups)?;
            }
        }
    }
    sums.finish(stale_grace)
}

/// The summed rollups of one directory and one current part set: writing the missing ones and
/// removing the stale ones.
pub(super) struct SummedFiles<'a> {
    dir: &'a Path,
    set: PartSet,
    existing: Vec<RollupFile>,
    out: SumRefresh,
}

impl<'a> SummedFiles<'a> {
    /// The summed rollups in `dir` are `existing`; `set` is its current part set.
    pub(super) fn new(dir: &'a Path, set: PartSet, existing: Vec<RollupFile>) -> SummedFiles<'a> {
        SummedFiles {
            dir,
            set,
            existing,
            out: SumRefresh::default(),
        }
    }

    /// Writes the sum of `rollups` (of `kind`) for the current set, unless it is there.
    pub(super) fn write(&mut self, kind: RollupKind, rollups: &[&RollupFile]) -> Result<()> {
        let stem = self.dir.join(self.set.stem());
        if self.existing.iter().any(|r| r.kind == kind && r.stem_path == stem) {
            return Ok(());
        }
        let first = rollups.iter().map(|r| r.first_start_ms).min().unwrap_or(0);
        let last = rollups.iter().map(|r| r.last_start_ms).max().unwrap_or(0);
        let paths: Vec<&Path> = rollups.iter().map(|r| r.path.as_path()).collect();
        if let Some(batch) = sum_rollups(kind, &paths)? {
            self.out.bytes += write_rollup(&RollupFile::new(&stem, kind, first, last), &batch)?;
            self.out.written += 1;
        }
        Ok(())
    }

    /// Removes the summed rollups of other sets older than `stale_grace`; fsyncs the directory
    /// if anything changed.
    pub(super) fn finish(mut self, stale_grace: Duration) -> Result<SumRefresh> {
        let stale = self
            .existing
            .iter()
            .filter(|r| PartSet::of_rollup(r) != Some(self.set))
            .filter(|r| older_than(&r.path, stale_grace));
        for stale in stale {
            match std::fs::remove_file(&stale.path) {
                Ok(()) => self.out.removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EngineError::io("remove stale summed rollup", &stale.path)(e)),
            }
        }
        if self.out.written > 0 || self.out.removed > 0 {
            sync_dir(self.dir)?;
        }
        Ok(self.out)
    }
}

/// Whether `path` was last modified over `age` ago (a file whose time cannot be read is not).
fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|e| e >= age))
}

/// The files of one hour directory that summed rollups depend on.
#[derive(Debug, Default)]
pub(super) struct HourListing {
    /// Sealed parts without a retention marker.
    pub(super) parts: Vec<PathBuf>,
    /// The parts' own rollups.
    part_rollups: Vec<RollupFile>,
    /// Hourly rollups.
    pub(super) hourly: Vec<RollupFile>,
}

impl HourListing {
    pub(super) fn read(dir: &Path) -> Result<HourListing> {
        let entries = std::fs::read_dir(dir).map_err(EngineError::io("list hour directory", dir))?;
        let mut out = HourListing::default();
        let mut expired = Vec::new();
        for entry in entries {
            let path = entry.map_err(EngineError::io("list hour directory", dir))?.path();
            match classify(&path).map(|(kind, _)| kind) {
                Some(FileKind::Sealed) => out.parts.push(path),
                Some(FileKind::Expired) => expired.extend(stem_path(&path)),
                Some(FileKind::Rollup) => match RollupFile::parse(&path) {
                    Some(r) if PartSet::of_rollup(&r).is_some() => out.hourly.push(r),
                    Some(r) => out.part_rollups.push(r),
                    None => {}
                },
                _ => {}
            }
        }
        out.parts
            .retain(|p| stem_path(p).is_none_or(|stem| !expired.contains(&stem)));
        Ok(out)
    }

    /// The set of the directory's sealed parts.
    pub(super) fn part_set(&self) -> PartSet {
        PartSet::of(SumLevel::Hour, self.parts.iter().filter_map(|p| p.file_name()))
    }

    /// The rollup of `kind` of every part, in no particular order; `None` unless each part has
    /// exactly one.
    pub(super) fn rollups_of(&self, kind: RollupKind) -> Option<Vec<&RollupFile>> {
        let mut by_stem: HashMap<&Path, Vec<&RollupFile>> = HashMap::new();
        for r in self.part_rollups.iter().filter(|r| r.kind == kind) {
            by_stem.entry(r.stem_path.as_path()).or_default().push(r);
        }
        let mut out = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            match by_stem.get(stem_path(part)?.as_path())?.as_slice() {
                [one] => out.push(*one),
                _ => return None,
            }
        }
        Some(out)
    }

    /// What sums the parts' rollups of `kind`: the current hourly rollup if there is one, else
    /// the parts' own (`None` if a part has none).
    pub(super) fn sum_of(&self, kind: RollupKind) -> Option<Vec<&RollupFile>> {
        let set = self.part_set();
        match self
            .hourly
            .iter()
            .find(|r| r.kind == kind && PartSet::of_rollup(r) == Some(set))
        {
            Some(hour) => Some(vec![hour]),
            None => self.rollups_of(kind),
        }
    }
}

#[cfg(test)]
mod tests;
