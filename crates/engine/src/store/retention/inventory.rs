//! The inventory a retention run decides on: every channel's sealed windows with their parts and
//! sizes, the parts already expired (with a marker) and when, and whether a window still has an
//! open log or a seal in progress ("busy").

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::report::{IssueKind, RetentionIssue};
use crate::addr::Addr16;
use crate::error::{EngineError, Result};
use crate::layout::{FileKind, WindowName, classify, flows_root, parse_exporter_dir, with_kind};

/// One sealed file of a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedPart {
    /// Its path.
    pub path: PathBuf,
    /// Its size when listed, with its rollups' (sealed files are never rewritten).
    pub bytes: u64,
}

/// One expired part of a window: its marker, and the sealed file the marker hides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpiredPart {
    /// `<stem>.expired`.
    pub marker: PathBuf,
    /// `<stem>.parquet`; it may be gone already (a run that stopped between the two unlinks).
    pub path: PathBuf,
    /// Its size when listed, with its rollups'; 0 if it is gone.
    pub bytes: u64,
    /// When it was expired, ms since the epoch (the marker's content).
    pub expired_ms: i64,
}

/// One window of a channel: its sealed parts, its expired parts, and whether any part is still
/// open or sealing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Window {
    /// Sealed parts not expired, by path.
    pub parts: Vec<SealedPart>,
    /// Parts expired by an earlier run, waiting for removal, by path. They no longer count anywhere:
    /// queries do not see them and the limits do not weigh them.
    pub expired: Vec<ExpiredPart>,
    /// A part is still an `.arrows` log or a `.parquet.tmp`, or a part could not be sized: the
    /// window is not expired in this run.
    pub busy: bool,
}

impl Window {
    /// Bytes of the sealed parts not expired.
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }

    /// Bytes of the expired parts still on disk.
    pub fn expired_bytes(&self) -> u64 {
        self.expired.iter().map(|p| p.bytes).sum()
    }
}

/// One channel (`exporter=<addr>` directory) and its windows by start (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channel {
    /// The exporter.
    pub exporter: Addr16,
    /// `DATA/flows/exporter=<addr>`.
    pub dir: PathBuf,
    /// Windows by start, oldest first.
    pub windows: BTreeMap<i64, Window>,
}

impl Channel {
    /// Sealed bytes of the channel, not expired.
    pub fn bytes(&self) -> u64 {
        self.windows.values().map(Window::bytes).sum()
    }
}

/// Lists every channel under `DATA/flows`, sorted by exporter. A missing flow table is empty;
/// a flow table that cannot be listed is an error; a directory inside a channel that cannot be
/// listed, or a file that cannot be sized, is an issue (its windows are then kept).
pub(crate) fn take(data_dir: &Path, issues: &mut Vec<RetentionIssue>) -> Result<Vec<Channel>> {
    let root = flows_root(data_dir);
    let entries = match fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EngineError::io("list directory", &root)(e)),
    };
    let mut channels = Vec::new();
    for entry in entries.flatten() {
        let Some(exporter) = entry.file_name().to_str().and_then(parse_exporter_dir) else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let mut channel = Channel {
            exporter,
            dir: entry.path(),
            windows: BTreeMap::new(),
        };
        walk(&channel.dir.clone(), &mut channel, issues);
        for window in channel.windows.values_mut() {
            window.parts.sort_by(|a, b| a.path.cmp(&b.path));
            window.expired.sort_by(|a, b| a.path.cmp(&b.path));
        }
        channels.push(channel);
    }
    channels.sort_by_key(|c| c.exporter);
    Ok(channels)
}

/// Adds the window files under `dir` (any depth) to `channel`. A part and its marker are in the
/// same directory, so markers are matched to parts per directory.
fn walk(dir: &Path, channel: &mut Channel, issues: &mut Vec<RetentionIssue>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return,
        Err(e) => return issues.push(RetentionIssue::io(IssueKind::List, "list directory", dir, e)),
    };
    // Sealed parts (window start, path, size) and markers (stem path -> window start) here.
    let mut sealed = Vec::new();
    let mut markers: HashMap<PathBuf, i64> = HashMap::new();
    // Bytes of each part's rollups (stem path -> bytes).
    let mut rollup_bytes: HashMap<PathBuf, u64> = HashMap::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                issues.push(RetentionIssue::io(IssueKind::List, "list directory", dir, e));
                continue;
            }
        };
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else { continue };
        if file_type.is_dir() {
            walk(&path, channel, issues);
            continue;
        }
        if !file_type.is_file() {
            continue;
        }
        let Some((kind, stem)) = classify(&path) else { continue };
        let Some(name) = WindowName::parse(stem) else { continue };
        let stem = path.with_file_name(stem);
        let window = channel.windows.entry(name.start_ms).or_default();
        match kind {
            FileKind::Wal | FileKind::SealTmp => window.busy = true,
            // Removed with their part (`remove`); their bytes count as the part's.
            FileKind::Rollup => {
                if let Ok(meta) = entry.metadata() {
                    *rollup_bytes.entry(stem).or_default() += meta.len();
                }
            }
            FileKind::Expired => {
                markers.insert(stem, name.start_ms);
            }
            FileKind::Sealed => match entry.metadata() {
                Ok(meta) => sealed.push((name.start_ms, stem, meta.len())),
                // Removed meanwhile (another retention run): nothing to do.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    window.busy = true;
                    issues.push(RetentionIssue::io(IssueKind::Stat, "stat window", &path, e));
                }
            },
        }
    }
    for (start, stem, bytes) in sealed {
        let bytes = bytes + rollup_bytes.get(&stem).copied().unwrap_or(0);
        let window = channel.windows.entry(start).or_default();
        let path = with_kind(&stem, FileKind::Sealed);
        match markers.remove(&stem) {
            None => window.parts.push(SealedPart { path, bytes }),
            Some(_) => {
                let marker = with_kind(&stem, FileKind::Expired);
                if let Some(expired_ms) = read_marker(&marker, issues) {
                    window.expired.push(ExpiredPart {
                        marker,
                        path,
                        bytes,
                        expired_ms,
                    });
                }
            }
        }
    }
    // Markers whose part is gone: removed like any other expired part, for 0 bytes.
    for (stem, start) in markers {
        let marker = with_kind(&stem, FileKind::Expired);
        if let Some(expired_ms) = read_marker(&marker, issues) {
            channel.windows.entry(start).or_default().expired.push(ExpiredPart {
                marker,
                path: with_kind(&stem, FileKind::Sealed),
                bytes: 0,
                expired_ms,
            });
        }
    }
}

/// When the part of `marker` was expired: the ms written in it, or, if the content is not a
/// number (a crash before the content reached the disk), the marker's modification time. `None`
/// (and an issue) if neither can be read: the part stays hidden and is not removed in this run.
fn read_marker(marker: &Path, issues: &mut Vec<RetentionIssue>) -> Option<i64> {
    let text = match fs::read_to_string(marker) {
        Ok(text) => text,
        // Removed meanwhile by another run.
        Err(e) if e.kind() == ErrorKind::NotFound => return None,
        Err(e) if e.kind() == ErrorKind::InvalidData => String::new(),
        Err(e) => {
            issues.push(RetentionIssue::io(IssueKind::Marker, "read expiry marker", marker, e));
            return None;
        }
    };
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Some(ms);
    }
    let modified = fs::metadata(marker).and_then(|m| m.modified());
    match modified {
        Ok(t) => Some(
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => {
            issues.push(RetentionIssue::io(IssueKind::Marker, "read expiry marker", marker, e));
            None
        }
    }
}
