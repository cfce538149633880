//! Where channel data lives on disk: the Hive-style partition directories and the file names of
//! windows (DESIGN section 3).
//!
//! `DATA/flows/exporter=<addr>/date=YYYY-MM-DD/hour=HH/<stem>.<ext>` where `<stem>` names the
//! window start in UTC (`20261122T1105Z`), plus `-<n>` for the n-th extra part of a window (late
//! flows after the window was sealed, or a window rolled at `segment_rows`). Extensions:
//! `.arrows` (the open window, an Arrow IPC stream: the write-ahead log), `.parquet` (sealed),
//! `.parquet.tmp` (a seal in progress; deleted at recovery) and `.expired` (a retention marker:
//! the sealed part of the same stem is expired, hidden from new snapshots and removed after the
//! retention grace; see `store::retention`), and `.rollup` (a summary of the sealed part of the
//! same stem, `<stem>.<kind>.<first>.<last>.rollup`; see `rollup`). Beside the date directories,
//! `outliers/` indexes the parts holding flows outside their hour (see `outliers`).

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime};

use crate::addr::{Addr16, from_path_segment, to_path_segment};
use crate::error::{EngineError, Result};

/// Name of the directory under the data directory that holds the flow table.
pub const FLOWS_DIR: &str = "flows";
/// Extension of open-window (write-ahead log) files.
pub const WAL_EXT: &str = "arrows";
/// Extension of sealed-window files.
pub const SEALED_EXT: &str = "parquet";
/// Extension of a seal in progress.
pub const SEAL_TMP_EXT: &str = "parquet.tmp";
/// Extension of a retention marker: the sealed part with the same stem is expired.
pub const EXPIRED_EXT: &str = "expired";

const STEM_FORMAT: &str = "%Y%m%dT%H%MZ";

/// The root of the flow table: `DATA/flows`.
pub fn flows_root(data_dir: &Path) -> PathBuf {
    data_dir.join(FLOWS_DIR)
}

/// Start (ms) of the window of length `window_ms` that holds `ts_ms` (windows align to the epoch).
#[inline]
pub fn window_start(ts_ms: i64, window_ms: i64) -> i64 {
    ts_ms - ts_ms.rem_euclid(window_ms)
}

fn datetime(ms: i64) -> Result<DateTime<chrono::Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or(EngineError::TimeOutOfRange { ms })
}

/// Milliseconds in an hour: the span of an hour directory.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day: the span of a date directory.
pub const DAY_MS: i64 = 86_400_000;

/// The partition directory of the window starting at `window_start_ms` of an exporter.
pub fn partition_dir(data_dir: &Path, exporter: &[u8], window_start_ms: i64) -> Result<PathBuf> {
    hour_dir(&channel_dir(data_dir, exporter), window_start_ms)
}

/// The directory of an exporter's channel: `DATA/flows/exporter=<addr>`.
pub fn channel_dir(data_dir: &Path, exporter: &[u8]) -> PathBuf {
    flows_root(data_dir).join(format!("{EXPORTER_PREFIX}{}", to_path_segment(exporter)))
}

/// The hour directory of a channel that holds the window starting at `window_start_ms`.
pub fn hour_dir(channel_dir: &Path, window_start_ms: i64) -> Result<PathBuf> {
    let t = datetime(window_start_ms)?;
    Ok(channel_dir
        .join(format!("date={}", t.format("%Y-%m-%d")))
        .join(format!("hour={}", t.format("%H"))))
}

/// One file of a window: its start and part number (0 for the first part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowName {
    /// Window start, ms since the epoch (UTC), a whole minute.
    pub start_ms: i64,
    /// Part number: 0 for the first file of the window, then 1, 2...
    pub part: u32,
}

impl WindowName {
    /// The file stem: `20261122T1105Z`, or `20261122T1105Z-2` for part 2.
    pub fn stem(&self) -> Result<String> {
        let base = datetime(self.start_ms)?.format(STEM_FORMAT).to_string();
        Ok(if self.part == 0 {
            base
        } else {
            format!("{base}-{}", self.part)
        })
    }

    /// Parses a stem written by [`stem`](Self::stem); `None` if it is not one.
    pub fn parse(stem: &str) -> Option<WindowName> {
        let (base, part) = match stem.split_once('-') {
            Some((base, part)) => (base, part.parse::<u32>().ok()?),
            None => (stem, 0),
        };
        let t = NaiveDateTime::parse_from_str(base, STEM_FORMAT).ok()?;
        Some(WindowName {
            start_ms: t.and_utc().timestamp_millis(),
            part,
        })
    }
}

/// The kind of a file in the flow table, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `.arrows`: an open window (or one left by a crash).
    Wal,
    /// `.parquet`: a sealed window.
    Sealed,
    /// `.parquet.tmp` or `.rollup.tmp`: a seal in progress or interrupted.
    SealTmp,
    /// `.expired`: a retention marker, not flow data. The sealed part with the same stem is
    /// expired: snapshots skip it, and retention removes it (then the marker) after its grace.
    /// It keeps its stem taken, so a new part of the window never reuses the name.
    Expired,
    /// `.rollup`: a summary of the sealed part with the same stem (see [`crate::rollup`]). Its
    /// full name also carries the rollup's kind and the part's time span
    /// (`<stem>.<kind>.<first>.<last>.rollup`).
    Rollup,
}

/// Classifies a file by its name; returns the kind and the window stem.
pub fn classify(path: &Path) -> Option<(FileKind, &str)> {
    let name = path.file_name()?.to_str()?;
    if let Some(stem) = name.strip_suffix(".parquet.tmp") {
        return Some((FileKind::SealTmp, stem));
    }
    if let Some(rest) = name.strip_suffix(".rollup.tmp") {
        return Some((FileKind::SealTmp, rest.split_once('.')?.0));
    }
    let (stem, ext) = name.rsplit_once('.')?;
    if ext == crate::rollup::ROLLUP_EXT {
        return Some((FileKind::Rollup, stem.split_once('.')?.0));
    }
    match ext {
        WAL_EXT => Some((FileKind::Wal, stem)),
        SEALED_EXT => Some((FileKind::Sealed, stem)),
        EXPIRED_EXT => Some((FileKind::Expired, stem)),
        _ => None,
    }
}

/// Path of `kind`'s file for the window file `stem_path` (a path without extension).
pub fn with_kind(stem_path: &Path, kind: FileKind) -> PathBuf {
    let ext = match kind {
        FileKind::Wal => WAL_EXT,
        FileKind::Sealed => SEALED_EXT,
        FileKind::SealTmp => SEAL_TMP_EXT,
        FileKind::Expired => EXPIRED_EXT,
        FileKind::Rollup => crate::rollup::ROLLUP_EXT,
    };
    let mut s = stem_path.as_os_str().to_os_string();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// The path of `path` without its flow-table extension (the key that names one window part).
pub fn stem_path(path: &Path) -> Option<PathBuf> {
    let (_, stem) = classify(path)?;
    Some(path.with_file_name(stem))
}

/// Every flow-table file (of any [`FileKind`]) under `DATA/flows`, sorted by path bytes. Directories
/// that vanish while walking are skipped; a missing root gives an empty list.
pub fn list_files(data_dir: &Path) -> Result<Vec<(FileKind, PathBuf)>> {
    list_files_where(data_dir, |_| true)
}

/// Prefix of a channel's directory name: `exporter=<addr>`.
pub const EXPORTER_PREFIX: &str = "exporter=";

/// The exporter a channel directory name (`exporter=10.0.0.1`) stands for.
pub fn parse_exporter_dir(name: &str) -> Option<Addr16> {
    from_path_segment(name.strip_prefix(EXPORTER_PREFIX)?)
}

/// Like [`list_files`], but walks only the top-level directories for which `keep` is true; it is
/// given the exporter of an `exporter=<addr>` directory, `None` for any other directory.
pub fn list_files_where(data_dir: &Path, keep: impl Fn(Option<&Addr16>) -> bool) -> Result<Vec<(FileKind, PathBuf)>> {
    list_files_within(data_dir, keep, None)
}

/// Like [`list_files_where`]; with `within` (first, last ms, inclusive), a channel whose outlier
/// index is complete (see [`crate::outliers`]) has only these hour directories walked: those
/// whose hour meets `within`, and those of its parts marked as holding flows outside their
/// hour. Every flow starting within `within` is in a file listed.
pub fn list_files_within(
    data_dir: &Path,
    keep: impl Fn(Option<&Addr16>) -> bool,
    within: Option<(i64, i64)>,
) -> Result<Vec<(FileKind, PathBuf)>> {
    let root = flows_root(data_dir);
    let mut stack = Vec::new();
    let mut days = Vec::new();
    for (name, path) in list_dirs(&root)? {
        let exporter = parse_exporter_dir(&name);
        if !keep(exporter.as_ref()) {
            continue;
        }
        match within {
            Some(within) if exporter.is_some() && crate::outliers::is_complete(&path) => {
                let dirs = dirs_within(&path, within)?;
                stack.extend(dirs.hours);
                days.extend(dirs.whole_days);
            }
            _ => stack.push(path),
        }
    }
    // The date directories of whole days: their own files (daily rollups), not their hours again.
    walk(stack, &days)
}

/// The directories of a channel a time range needs.
struct DirsWithin {
    /// Hour directories (and any that do not parse), walked whole.
    hours: BTreeSet<PathBuf>,
    /// Date directories of the days wholly within the range: their own files are listed too.
    whole_days: Vec<PathBuf>,
}

/// The hour directories of `channel` that may hold flows starting within `within`: those of the
/// hours meeting it and those named by the channel's outlier index; and the date directories of
/// the days it takes whole. A date or hour directory whose name does not parse is kept whole.
fn dirs_within(channel: &Path, (first, last): (i64, i64)) -> Result<DirsWithin> {
    let meets = |start: i64, span: i64| start <= last && start.saturating_add(span) > first;
    let mut dirs = BTreeSet::new();
    let mut whole_days = Vec::new();
    for (name, date_dir) in list_dirs(channel)? {
        if name == crate::outliers::OUTLIERS_DIR {
            continue;
        }
        let Some(day) = parse_date_dir(&name) else {
            dirs.insert(date_dir);
            continue;
        };
        if !meets(day, DAY_MS) {
            continue;
        }
        if first <= day && day.saturating_add(DAY_MS - 1) <= last {
            whole_days.push(date_dir.clone());
        }
        for (name, hour_dir) in list_dirs(&date_dir)? {
            match parse_hour_dir(&name) {
                Some(hour) if !meets(day + hour * HOUR_MS, HOUR_MS) => {}
                _ => {
                    dirs.insert(hour_dir);
                }
            }
        }
    }
    dirs.extend(crate::outliers::marked_dirs(channel)?);
    Ok(DirsWithin {
        hours: dirs,
        whole_days,
    })
}

/// The start (ms) of the day a `date=YYYY-MM-DD` directory name stands for.
pub fn parse_date_dir(name: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(name.strip_prefix("date=")?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// The hour (0-23) an `hour=HH` directory name stands for.
pub fn parse_hour_dir(name: &str) -> Option<i64> {
    name.strip_prefix("hour=")?.parse().ok().filter(|h| (0..24).contains(h))
}

/// Every flow-table file under the directories of `stack`, and directly in those of `shallow`
/// (not their subdirectories), sorted by path bytes (a directory that vanishes while listed is
/// skipped).
fn walk(mut stack: Vec<PathBuf>, shallow: &[PathBuf]) -> Result<Vec<(FileKind, PathBuf)>> {
    let mut out = Vec::new();
    while let Some(dir) = stack.pop() {
        stack.extend(list_dir_files(&dir, &mut out)?);
    }
    for dir in shallow {
        list_dir_files(dir, &mut out)?;
    }
    // By the paths' bytes: `Path`'s own order parses both paths into components on every
    // comparison, most of a month-wide listing's CPU.
    out.sort_unstable_by(|a, b| a.1.as_os_str().cmp(b.1.as_os_str()));
    Ok(out)
}

/// Adds the flow-table files directly in `dir` to `out`; returns its subdirectories.
fn list_dir_files(dir: &Path, out: &mut Vec<(FileKind, PathBuf)>) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EngineError::io("list directory", dir)(e)),
    };
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(EngineError::io("list directory", dir)(e)),
        };
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else { continue };
        if file_type.is_dir() {
            subdirs.push(path);
        } else if let Some((kind, _)) = classify(&path) {
            out.push((kind, path));
        }
    }
    Ok(subdirs)
}

/// The exporters that have a channel directory under `DATA/flows`, sorted.
pub fn list_exporters(data_dir: &Path) -> Result<Vec<Addr16>> {
    let mut out: Vec<Addr16> = list_dirs(&flows_root(data_dir))?
        .iter()
        .filter_map(|(name, _)| parse_exporter_dir(name))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Subdirectories of `dir` as (name, path); a missing `dir` gives an empty list.
pub fn list_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EngineError::io("list directory", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(EngineError::io("list directory", dir)(e)),
        };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
        }
    }
    Ok(out)
}

/// The next free part number of the window starting at `start_ms` in `dir` (0 if none exists).
/// Every kind counts, retention markers included: a part expired but not yet removed keeps its
/// number.
pub fn next_part(dir: &Path, start_ms: i64) -> Result<u32> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(EngineError::io("list directory", dir)(e)),
    };
    let mut next = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if let Some((_, stem)) = classify(&path)
            && let Some(name) = WindowName::parse(stem)
            && name.start_ms == start_ms
        {
            next = next.max(name.part + 1);
        }
    }
    Ok(next)
}

/// Creates `dir` and its missing parents, fsyncing each parent after a child is created so the
/// new directory entries survive a crash.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(EngineError::io("create directory", dir)(e)),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Fsyncs a directory, so renames and new entries in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = fs::File::open(dir).map_err(EngineError::io("open directory", dir))?;
    f.sync_all().map_err(EngineError::io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{from_ip, from_v4_u32};

    #[test]
    fn window_start_floors_including_before_epoch() {
        assert_eq!(window_start(1_000, 300_000), 0);
        assert_eq!(window_start(299_999, 300_000), 0);
        assert_eq!(window_start(300_000, 300_000), 300_000);
        assert_eq!(window_start(-1, 300_000), -300_000);
    }

    #[test]
    fn partition_dir_is_hive_style() {
        // 2026-11-22 11:05:00 UTC
        let ms = 1_795_345_500_000;
        let dir = partition_dir(Path::new("/d"), &from_v4_u32(0x7f00_0001), ms).unwrap();
        assert_eq!(dir, Path::new("/d/flows/exporter=127.0.0.1/date=2026-11-22/hour=11"));
        let v6 = from_ip("2001:db8::1".parse().unwrap());
        let dir = partition_dir(Path::new("/d"), &v6, ms).unwrap();
        assert!(dir.to_str().unwrap().contains("exporter=2001_db8__1/"));
    }

    #[test]
    fn stems_round_trip_with_parts() {
        let ms = 1_795_345_500_000;
        let first = WindowName { start_ms: ms, part: 0 };
        assert_eq!(first.stem().unwrap(), "20261122T1105Z");
        let third = WindowName { start_ms: ms, part: 2 };
        assert_eq!(third.stem().unwrap(), "20261122T1105Z-2");
        assert_eq!(WindowName::parse("20261122T1105Z-2"), Some(third));
        assert_eq!(WindowName::parse("20261122T1105Z"), Some(first));
        assert_eq!(WindowName::parse("notes"), None);
        assert_eq!(WindowName::parse("20261122T1105Z-x"), None);
    }

    #[test]
    fn classify_knows_every_kind() {
        let p = Path::new("/x/20261122T1105Z-1.parquet.tmp");
        assert_eq!(classify(p), Some((FileKind::SealTmp, "20261122T1105Z-1")));
        assert_eq!(classify(Path::new("a/b.arrows")), Some((FileKind::Wal, "b")));
        assert_eq!(classify(Path::new("a/b.parquet")), Some((FileKind::Sealed, "b")));
        assert_eq!(classify(Path::new("a/b.expired")), Some((FileKind::Expired, "b")));
        assert_eq!(classify(Path::new("a/b.txt")), None);
        assert_eq!(
            classify(Path::new("a/b-1.src.5.9.rollup")),
            Some((FileKind::Rollup, "b-1"))
        );
        let stem = stem_path(p).unwrap();
        assert_eq!(
            with_kind(&stem, FileKind::Sealed),
            Path::new("/x/20261122T1105Z-1.parquet")
        );
        assert_eq!(
            with_kind(&stem, FileKind::Expired),
            Path::new("/x/20261122T1105Z-1.expired")
        );
    }

    #[test]
    fn an_expired_part_keeps_its_number() {
        let tmp = tempfile::tempdir().unwrap();
        let ms = 1_795_345_500_000;
        let stem = |part| WindowName { start_ms: ms, part }.stem().unwrap();
        fs::write(tmp.path().join(format!("{}.parquet", stem(0))), "").unwrap();
        fs::write(tmp.path().join(format!("{}.expired", stem(1))), "").unwrap();
        assert_eq!(next_part(tmp.path(), ms).unwrap(), 2);
    }
}
