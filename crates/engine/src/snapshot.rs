//! A consistent read view of the flow table while a writer appends and seals concurrently.
//!
//! A window part is either a log (`.arrows`) or, once sealed, a Parquet file; the seal thread
//! renames the Parquet file into place before it deletes the log. So:
//! 1. list Parquet files (`L1`);
//! 2. list logs and read each one, tolerating a torn tail; a log whose Parquet file is in `L1`
//!    is skipped (crash or seal between rename and delete), a log that vanished is noted;
//! 3. list Parquet again (`L2`) and add every file of `L2` not in `L1` unless its log was read
//!    in step 2. That adds the Parquet file of each vanished log, and of logs sealed before step 2
//!    saw them; a window is never counted twice and never missed.
//!
//! A sealed part whose stem has a retention marker (`<stem>.expired`) is expired: both listings
//! leave it out. Retention removes such a part only after its grace (at least the longest a
//! query runs), so a query that listed a part before it was marked can still read it to the end.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::addr::Addr16;
use crate::error::Result;
use crate::layout::{FileKind, list_files_within, stem_path};
use crate::rollup::{PartSet, RollupFile, RollupKind, SumLevel};
use crate::store::read_wal;

/// The files and open-window batches that make up the flow table at one moment.
#[derive(Debug, Default, Clone)]
pub struct FlowSnapshot {
    /// Sealed windows (not expired by retention), sorted by path bytes.
    pub parquet_files: Vec<PathBuf>,
    /// Complete batches of open windows (flow schema).
    pub open_batches: Vec<RecordBatch>,
    /// Bytes of torn log tails skipped (a writer mid-append, or a crash not yet recovered).
    pub bytes_skipped: u64,
    /// Logs skipped because they do not have the flow schema.
    pub bad_logs: usize,
    /// Rollups seen while listing (of sealed parts, or of parts about to be sealed; a rollup is
    /// only read with its part, see [`rollups_of`](Self::rollups_of)).
    pub rollups: Vec<RollupFile>,
}

/// Which channels a snapshot covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Channels {
    /// Every channel.
    #[default]
    All,
    /// Only these exporters' channels (an empty set selects nothing).
    Only(BTreeSet<Addr16>),
}

impl Channels {
    /// `true` if the channel directory of `exporter` (`None`: not a channel directory) is read.
    pub fn keeps(&self, exporter: Option<&Addr16>) -> bool {
        match self {
            Channels::All => true,
            Channels::Only(set) => exporter.is_some_and(|e| set.contains(e)),
        }
    }

    /// The channels both selections cover.
    pub fn intersect(self, other: Channels) -> Channels {
        match (self, other) {
            (Channels::All, c) | (c, Channels::All) => c,
            (Channels::Only(a), Channels::Only(b)) => Channels::Only(a.intersection(&b).copied().collect()),
        }
    }
}

/// The sealed parts of the selected channels, without the expired ones (those with a marker).
fn sealed(data_dir: &Path, channels: &Channels, within: Option<(i64, i64)>) -> Result<Vec<PathBuf>> {
    let files = list_files_within(data_dir, |e| channels.keeps(e), within)?;
    let expired: HashSet<PathBuf> = files
        .iter()
        .filter(|(k, _)| *k == FileKind::Expired)
        .filter_map(|(_, p)| stem_path(p))
        .collect();
    Ok(files
        .into_iter()
        .filter(|(k, p)| *k == FileKind::Sealed && stem_path(p).is_some_and(|s| !expired.contains(&s)))
        .map(|(_, p)| p)
        .collect())
}

impl FlowSnapshot {
    /// Takes a snapshot of the flow table under `data_dir` (blocking file I/O).
    pub fn take(data_dir: &Path) -> Result<FlowSnapshot> {
        Self::take_channels(data_dir, &Channels::All)
    }

    /// Takes a snapshot of the selected channels only: other channels' directories are not even
    /// listed, and their logs are not read.
    pub fn take_channels(data_dir: &Path, channels: &Channels) -> Result<FlowSnapshot> {
        Self::take_within(data_dir, channels, None)
    }

    /// Takes a snapshot of the selected channels that holds at least every flow starting
    /// `within` (first, last ms, inclusive): only the hour directories that may hold such flows
    /// are listed (see [`list_files_within`]). The snapshot may hold other flows too.
    pub fn take_within(data_dir: &Path, channels: &Channels, within: Option<(i64, i64)>) -> Result<FlowSnapshot> {
        let first: Vec<PathBuf> = sealed(data_dir, channels, within)?;
        let first_stems: HashSet<PathBuf> = first.iter().filter_map(|p| stem_path(p)).collect();
        let mut snap = FlowSnapshot {
            parquet_files: first.clone(),
            ..Default::default()
        };
        let mut read_stems = HashSet::new();
        for (kind, path) in list_files_within(data_dir, |e| channels.keeps(e), within)? {
            if kind == FileKind::Rollup {
                snap.rollups.extend(RollupFile::parse(&path));
                continue;
            }
            let Some(stem) = stem_path(&path) else { continue };
            if kind != FileKind::Wal || first_stems.contains(&stem) {
                continue;
            }
            let Some(contents) = read_wal(&path)? else { continue };
            if contents.rows > 0 && !contents.has_flow_schema() {
                snap.bad_logs += 1;
                read_stems.insert(stem);
                continue;
            }
            snap.bytes_skipped += contents.bytes_cut;
            snap.open_batches.extend(contents.batches);
            read_stems.insert(stem);
        }
        let first: HashSet<PathBuf> = first.into_iter().collect();
        for path in sealed(data_dir, channels, within)? {
            if first.contains(&path) {
                continue;
            }
            if stem_path(&path).is_some_and(|s| !read_stems.contains(&s)) {
                snap.parquet_files.push(path);
            }
        }
        snap.parquet_files
            .sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        Ok(snap)
    }

    /// The `flow_start` span (first, last ms) of each sealed part whose rollups' names all give
    /// the same one, by the part's stem path. The names are written from the part's own rows,
    /// flows filed away from their window included: a part whose span misses a time range holds
    /// no flow in it.
    pub fn part_spans(&self) -> HashMap<PathBuf, (i64, i64)> {
        let mut spans: HashMap<PathBuf, Option<(i64, i64)>> = HashMap::new();
        for rollup in &self.rollups {
            let span = (rollup.first_start_ms, rollup.last_start_ms);
            spans
                .entry(rollup.stem_path.clone())
                .and_modify(|seen| {
                    if *seen != Some(span) {
                        *seen = None;
                    }
                })
                .or_insert(Some(span));
        }
        spans
            .into_iter()
            .filter_map(|(stem, span)| span.map(|span| (stem, span)))
            .collect()
    }

    /// The rollups of `kind` of each sealed part, in the order of
    /// [`parquet_files`](Self::parquet_files): `None` for a part without exactly one (none
    /// written, or two left by a crash; such a part is read from its flows).
    pub fn rollups_of(&self, kind: RollupKind) -> Vec<Option<&RollupFile>> {
        let mut by_stem: HashMap<&Path, Option<&RollupFile>> = HashMap::new();
        for r in self.rollups.iter().filter(|r| r.kind == kind) {
            by_stem
                .entry(r.stem_path.as_path())
                .and_modify(|seen| *seen = None)
                .or_insert(Some(r));
        }
        self.parquet_files
            .iter()
            .map(|p| stem_path(p).and_then(|stem| by_stem.get(stem.as_path()).copied().flatten()))
            .collect()
    }

    /// The summed rollups of `kind` and `level` that sum exactly this snapshot's sealed parts of
    /// their directory (the hour directory, or the date directory for a day; see [`PartSet`]), by
    /// directory.
    pub fn summed_rollups(&self, kind: RollupKind, level: SumLevel) -> HashMap<&Path, &RollupFile> {
        let summed: Vec<(&Path, &RollupFile, PartSet)> = self
            .rollups
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| Some((r.path.parent()?, r, PartSet::of_rollup(r)?)))
            .filter(|(_, _, set)| set.level == level)
            .collect();
        if summed.is_empty() {
            return HashMap::new();
        }
        let mut names: HashMap<&Path, Vec<OsString>> = summed.iter().map(|(dir, _, _)| (*dir, Vec::new())).collect();
        for part in &self.parquet_files {
            let (Some(hour_dir), Some(name)) = (part.parent(), part.file_name()) else {
                continue;
            };
            let (dir, name) = match level {
                SumLevel::Hour => (Some(hour_dir), name.to_os_string()),
                SumLevel::Day => {
                    let mut full = hour_dir.file_name().unwrap_or_default().to_os_string();
                    full.push("/");
                    full.push(name);
                    (hour_dir.parent(), full)
                }
            };
            if let Some(names) = dir.and_then(|d| names.get_mut(d)) {
                names.push(name);
            }
        }
        let sets: HashMap<&Path, PartSet> = names
            .into_iter()
            .map(|(dir, n)| (dir, PartSet::of(level, n.iter().map(OsString::as_os_str))))
            .collect();
        summed
            .into_iter()
            .filter(|(dir, _, set)| sets.get(dir) == Some(set))
            .map(|(dir, r, _)| (dir, r))
            .collect()
    }

    /// Rows in the open-window batches.
    pub fn open_rows(&self) -> usize {
        self.open_batches.iter().map(RecordBatch::num_rows).sum()
    }
}
