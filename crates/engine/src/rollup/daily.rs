//! Daily rollups: the parts of a date directory's hour directories summed into one file per
//! kind (`date=D/day-<parts>-<fingerprint>.<kind>.<first>.<last>.rollup`, see [`PartSet`]), so
//! that a query taking whole days reads one file per day and channel: a year of retention is 365
//! files per channel and kind, not 8,760 hourly ones or 105,120 part rollups. Built like the
//! hourly ones, from them where they are current (else from the parts' rollups), once the day
//! has passed; used while the date directory's sealed parts are exactly the set its name
//! fingerprints (part names as `hour=HH/<name>`).

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::hourly::{HourListing, SumRefresh, SummedFiles, one_refresh_at_a_time};
use super::part_set::{PartSet, SumLevel};
use super::{RollupFile, RollupKind};
use crate::error::{EngineError, Result};
use crate::layout::{list_dirs, parse_hour_dir};

/// Brings the daily rollups of the date directory `dir` up to date with the sealed parts of its
/// hour directories (see [`super::refresh_hour`]; the same grace for stale ones). A day summed
/// from one file gets none.
pub fn refresh_day(dir: &Path, stale_grace: Duration) -> Result<SumRefresh> {
    let _one = one_refresh_at_a_time();
    let mut names: Vec<OsString> = Vec::new();
    let mut inputs: Vec<Option<Vec<RollupFile>>> = RollupKind::ALL.iter().map(|_| Some(Vec::new())).collect();
    for (hour_name, hour_dir) in list_dirs(dir)? {
        if parse_hour_dir(&hour_name).is_none() {
            continue;
        }
        let listing = HourListing::read(&hour_dir)?;
        for part in &listing.parts {
            let mut name = OsString::from(&hour_name);
            name.push("/");
            name.push(part.file_name().unwrap_or_default());
            names.push(name);
        }
        for (kind, input) in RollupKind::ALL.iter().zip(inputs.iter_mut()) {
            let sum = listing.sum_of(*kind);
            match (input.as_mut(), sum) {
                (Some(files), Some(sum)) => files.extend(sum.into_iter().cloned()),
                _ => *input = None,
            }
        }
    }
    let set = PartSet::of(SumLevel::Day, names.iter().map(OsString::as_os_str));
    let mut sums = SummedFiles::new(dir, set, day_rollups(dir)?);
    for (kind, input) in RollupKind::ALL.into_iter().zip(inputs) {
        if let Some(files) = input.filter(|f| f.len() > 1) {
            let files: Vec<&RollupFile> = files.iter().collect();
            sums.write(kind, &files)?;
        }
    }
    sums.finish(stale_grace)
}

/// The daily rollups in the date directory `dir`.
fn day_rollups(dir: &Path) -> Result<Vec<RollupFile>> {
    let entries = std::fs::read_dir(dir).map_err(EngineError::io("list date directory", dir))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(EngineError::io("list date directory", dir))?.path();
        if let Some(r) = RollupFile::parse(&path)
            && PartSet::of_rollup(&r).is_some_and(|s| s.level == SumLevel::Day)
        {
            out.push(r);
        }
    }
    Ok(out)
}
