//! The inventory a retention run decides on: every channel's sealed windows with their parts and
//! sizes, and whether a window still has an open log or a seal in progress ("busy").

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::report::{IssueKind, RetentionIssue};
use crate::addr::Addr16;
use crate::error::{EngineError, Result};
use crate::layout::{FileKind, WindowName, classify, flows_root, parse_exporter_dir};

/// One sealed file of a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedPart {
    /// Its path.
    pub path: PathBuf,
    /// Its size when listed (sealed files are never rewritten).
    pub bytes: u64,
}

/// One window of a channel: its sealed parts, and whether any part is still open or sealing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Window {
    /// Sealed parts, in listing order.
    pub parts: Vec<SealedPart>,
    /// A part is still an `.arrows` log or a `.parquet.tmp`, or a part could not be sized: the
    /// window is not removed in this run.
    pub busy: bool,
}

impl Window {
    /// Bytes of the sealed parts.
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
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
    /// Sealed bytes of the channel.
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
        channels.push(channel);
    }
    channels.sort_by_key(|c| c.exporter);
    Ok(channels)
}

/// Adds the window files under `dir` (any depth) to `channel`.
fn walk(dir: &Path, channel: &mut Channel, issues: &mut Vec<RetentionIssue>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return,
        Err(e) => return issues.push(RetentionIssue::io(IssueKind::List, "list directory", dir, e)),
    };
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
        let window = channel.windows.entry(name.start_ms).or_default();
        match kind {
            FileKind::Wal | FileKind::SealTmp => window.busy = true,
            FileKind::Sealed => match entry.metadata() {
                Ok(meta) => window.parts.push(SealedPart {
                    path,
                    bytes: meta.len(),
                }),
                // Removed meanwhile (another retention run): nothing to do.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    window.busy = true;
                    issues.push(RetentionIssue::io(IssueKind::Stat, "stat window", &path, e));
                }
            },
        }
    }
}
