//! Hourly rollups: the rollups of an hour directory's sealed parts summed into one file per
//! kind, so that a query whose time range takes a whole hour reads one summary instead of one
//! per window part (a month of 5-minute windows: 8,640 files per channel and kind, 720 hourly).
//!
//! An hourly rollup's stem names the part set it sums, `hour-<parts>-<fingerprint>` (the number
//! of sealed parts and a hash of their file names), and the rest of its name is a part rollup's:
//! `hour-12-<16 hex>.src.<first_start_ms>.<last_start_ms>.rollup`, the span covering every part's.
//! A query uses it only while the directory's sealed parts are exactly that set; a part sealed
//! late, or expired by retention, makes it stale, and the parts' own rollups are read until it
//! is written again. It is derived data like the parts' rollups: written atomically, removed by
//! retention before any part of its directory, and never needed.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use arrow::array::{Array, AsArray, FixedSizeBinaryArray, RecordBatch, UInt64Array};
use arrow::datatypes::{Int64Type, UInt8Type, UInt16Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::build::{Groups, PortKey, Totals, addr_key, addr_rollup, port_rollup};
use super::{FLOWS_COL, RollupFile, RollupKind, write_rollup};
use crate::addr::ADDR_WIDTH;
use crate::error::{EngineError, Result};
use crate::layout::{FileKind, classify, stem_path, sync_dir};
use crate::schema::col;

/// How an hourly rollup's stem starts.
const HOUR_PREFIX: &str = "hour-";

/// The sealed parts an hourly rollup sums: how many, and a hash of their file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartSet {
    /// Number of parts.
    pub parts: usize,
    /// FNV-1a (64 bits) of the sorted file names, each followed by a zero byte: stable across
    /// builds, as it is stored in file names.
    pub fingerprint: u64,
}

impl PartSet {
    /// The set of the part files named `names` (in any order).
    pub fn of<'a>(names: impl IntoIterator<Item = &'a OsStr>) -> PartSet {
        let mut names: Vec<&[u8]> = names.into_iter().map(OsStr::as_encoded_bytes).collect();
        names.sort_unstable();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in names.iter().flat_map(|n| n.iter().chain(&[0u8])) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        PartSet {
            parts: names.len(),
            fingerprint: hash,
        }
    }

    /// The stem of this set's hourly rollups.
    pub fn stem(&self) -> String {
        format!("{HOUR_PREFIX}{}-{:016x}", self.parts, self.fingerprint)
    }

    /// The set an hourly rollup's stem names; `None` for any other stem (a part's).
    pub fn from_stem(stem: &str) -> Option<PartSet> {
        let (parts, fingerprint) = stem.strip_prefix(HOUR_PREFIX)?.split_once('-')?;
        Some(PartSet {
            parts: parts.parse().ok()?,
            fingerprint: u64::from_str_radix(fingerprint, 16).ok()?,
        })
    }

    /// The set `rollup` sums, if it is an hourly rollup.
    pub fn of_rollup(rollup: &RollupFile) -> Option<PartSet> {
        PartSet::from_stem(rollup.stem_path.file_name()?.to_str()?)
    }
}

/// What [`refresh_hour`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HourRefresh {
    /// Hourly rollups written.
    pub written: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Stale hourly rollups removed (past their grace).
    pub removed: usize,
}

/// One refresh at a time per process: the seal thread and the backfill may meet on a directory,
/// and both would write the same temporary file.
static REFRESH: Mutex<()> = Mutex::new(());

/// How long a stale hourly rollup stays: a query that listed it while it was current may still
/// be reading it (queries run for minutes at most; the next refresh or start removes it).
pub const STALE_GRACE: Duration = Duration::from_secs(3600);

/// Brings the hourly rollups of the hour directory `dir` up to date with its sealed parts (those
/// without a retention marker): for each kind whose every part has exactly one rollup, writes
/// the sum of those rollups unless it is there already, and removes the hourly rollups of any
/// other part set last modified over `stale_grace` ago. A directory of one part gets none (its
/// part's rollup serves as well).
pub fn refresh_hour(dir: &Path, stale_grace: Duration) -> Result<HourRefresh> {
    let _one = REFRESH.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let listing = HourListing::read(dir)?;
    let set = PartSet::of(listing.parts.iter().filter_map(|p| p.file_name()));
    let mut out = HourRefresh::default();
    let stale = listing
        .hourly
        .iter()
        .filter(|r| PartSet::of_rollup(r) != Some(set))
        .filter(|r| older_than(&r.path, stale_grace));
    for stale in stale {
        match std::fs::remove_file(&stale.path) {
            Ok(()) => out.removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io("remove stale hourly rollup", &stale.path)(e)),
        }
    }
    if set.parts > 1 {
        let stem = dir.join(set.stem());
        for kind in RollupKind::ALL {
            let have = listing.hourly.iter().any(|r| r.kind == kind && r.stem_path == stem);
            let Some(rollups) = listing.rollups_of(kind) else {
                continue;
            };
            if have {
                continue;
            }
            let first = rollups.iter().map(|r| r.first_start_ms).min().unwrap_or(0);
            let last = rollups.iter().map(|r| r.last_start_ms).max().unwrap_or(0);
            let paths: Vec<&Path> = rollups.iter().map(|r| r.path.as_path()).collect();
            if let Some(batch) = sum_rollups(kind, &paths)? {
                out.bytes += write_rollup(&RollupFile::new(&stem, kind, first, last), &batch)?;
                out.written += 1;
            }
        }
    }
    if out.written > 0 || out.removed > 0 {
        sync_dir(dir)?;
    }
    Ok(out)
}

/// Whether `path` was last modified over `age` ago (a file whose time cannot be read is not).
fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|e| e >= age))
}

/// The files of one hour directory that hourly rollups depend on.
#[derive(Debug, Default)]
struct HourListing {
    /// Sealed parts without a retention marker.
    parts: Vec<PathBuf>,
    /// The parts' own rollups.
    part_rollups: Vec<RollupFile>,
    /// Hourly rollups.
    hourly: Vec<RollupFile>,
}

impl HourListing {
    fn read(dir: &Path) -> Result<HourListing> {
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

    /// The rollup of `kind` of every part, in no particular order; `None` unless each part has
    /// exactly one.
    fn rollups_of(&self, kind: RollupKind) -> Option<Vec<&RollupFile>> {
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
}

/// The sum of the rollups of `kind` at `paths`, all of one exporter; `None` if they hold no
/// row, or rows of more than one exporter (a channel's parts never do).
fn sum_rollups(kind: RollupKind, paths: &[&Path]) -> Result<Option<RecordBatch>> {
    let mut exporter: Option<Vec<u8>> = None;
    let mut addrs = Groups::<Option<u128>>::new();
    let mut ports = Groups::<PortKey>::new();
    for path in paths {
        for batch in read_rollup(path)? {
            let exporters = fixed_column(&batch, col::EXPORTER, path)?;
            let totals = totals_of(&batch, path)?;
            for i in 0..batch.num_rows() {
                let this = exporters.is_valid(i).then(|| exporters.value(i));
                match (&exporter, this) {
                    (None, Some(e)) => exporter = Some(e.to_vec()),
                    (Some(seen), Some(e)) if seen.as_slice() == e => {}
                    _ => return Ok(None),
                }
            }
            match kind {
                RollupKind::Src | RollupKind::Dst => {
                    let keys = fixed_column(&batch, kind.keys()[0], path)?;
                    for (i, t) in totals.into_iter().enumerate() {
                        addrs.add_totals(keys.is_valid(i).then(|| addr_key(keys.value(i))), t);
                    }
                }
                RollupKind::Port => {
                    let protocol = column(&batch, col::PROTOCOL, path)?.as_primitive_opt::<UInt8Type>();
                    let port = column(&batch, col::DST_PORT, path)?.as_primitive_opt::<UInt16Type>();
                    let (Some(protocol), Some(port)) = (protocol, port) else {
                        return Err(bad(path, "protocol or dst_port has the wrong type"));
                    };
                    for (i, t) in totals.into_iter().enumerate() {
                        let key = (
                            protocol.is_valid(i).then(|| protocol.value(i)),
                            port.is_valid(i).then(|| port.value(i)),
                        );
                        ports.add_totals(key, t);
                    }
                }
            }
        }
    }
    let Some(exporter) = exporter else { return Ok(None) };
    Ok(Some(match kind {
        RollupKind::Src | RollupKind::Dst => addr_rollup(kind, &exporter, addrs.sorted())?,
        RollupKind::Port => port_rollup(&exporter, ports.sorted())?,
    }))
}

fn read_rollup(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(EngineError::io("open rollup", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Each row's flows, packets and bytes.
fn totals_of(batch: &RecordBatch, path: &Path) -> Result<Vec<Totals>> {
    let flows = column(batch, FLOWS_COL, path)?.as_primitive_opt::<Int64Type>();
    let packets = column(batch, col::PACKETS, path)?.as_primitive_opt::<UInt64Type>();
    let bytes = column(batch, col::BYTES, path)?.as_primitive_opt::<UInt64Type>();
    let (Some(flows), Some(packets), Some(bytes)) = (flows, packets, bytes) else {
        return Err(bad(path, "flows, packets or bytes has the wrong type"));
    };
    let value = |a: &UInt64Array, i: usize| a.is_valid(i).then(|| a.value(i));
    Ok((0..batch.num_rows())
        .map(|i| Totals {
            flows: flows.value(i),
            packets: value(packets, i),
            bytes: value(bytes, i),
        })
        .collect())
}

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| bad(path, &format!("no column {name}")))
}

fn fixed_column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a FixedSizeBinaryArray> {
    column(batch, name, path)?
        .as_fixed_size_binary_opt()
        .filter(|a| a.value_length() == ADDR_WIDTH)
        .ok_or_else(|| bad(path, &format!("{name} is not a 16-byte address")))
}

fn bad(path: &Path, reason: &str) -> EngineError {
    EngineError::BadFile {
        path: path.to_path_buf(),
        reason: format!("rollup: {reason}"),
    }
}

#[cfg(test)]
mod tests;
