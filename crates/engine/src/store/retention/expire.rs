//! Phase 1 of removing a window: expiring it.
//!
//! Each sealed part of a chosen window gets a marker beside it, `<stem>.expired`, holding the
//! expiry time (ms since the epoch). From then on new snapshots skip the part, while queries
//! that listed it before can still read it; [`super::remove`] unlinks it once the grace has
//! passed. The marker is created with `create_new` (a part marked by a concurrent run is left to
//! that run), its content fsynced, and every directory that gained one is fsynced once. A part
//! whose marker cannot be created stays visible and is an issue; the next run tries again. A
//! marker whose content could not be written still hides its part: its time is then its
//! modification time.
//!
//! With a zero grace nothing can still be reading a part that is removed in the same breath, so
//! no marker is written: the parts go straight to removal (which also works on a disk too full
//! to create a file).

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::decide::Doomed;
use super::inventory::{Channel, ExpiredPart};
use super::report::{ExpiredWindow, IssueKind, RetentionIssue};
use crate::layout::{FileKind, stem_path, sync_dir, with_kind};

/// One window expired by this run: what the report says, and its parts for removal.
#[derive(Debug)]
pub(crate) struct Expiry {
    /// Index into the inventory's channels.
    pub channel: usize,
    /// The report's entry.
    pub window: ExpiredWindow,
    /// The parts expired, at the run's time.
    pub parts: Vec<ExpiredPart>,
}

impl Expiry {
    fn new(d: &Doomed) -> Expiry {
        Expiry {
            channel: d.channel,
            window: ExpiredWindow::new(d),
            parts: Vec::new(),
        }
    }

    fn add(&mut self, path: &Path, bytes: u64, now_ms: i64) {
        self.window.files.push(path.to_path_buf());
        self.window.bytes_expired += bytes;
        self.parts.push(ExpiredPart {
            marker: marker_of(path),
            path: path.to_path_buf(),
            bytes,
            expired_ms: now_ms,
        });
    }
}

/// The marker of the sealed part at `path`.
fn marker_of(path: &Path) -> PathBuf {
    stem_path(path).map_or_else(|| path.with_extension("expired"), |s| with_kind(&s, FileKind::Expired))
}

/// Expires every part of the doomed windows at `now_ms`: writes their markers unless
/// `write_markers` is false (a zero grace).
pub(crate) fn expire(
    channels: &[Channel],
    doomed: &[Doomed],
    now_ms: i64,
    write_markers: bool,
    issues: &mut Vec<RetentionIssue>,
) -> Vec<Expiry> {
    let mut touched = BTreeSet::new();
    let mut expired = Vec::with_capacity(doomed.len());
    for d in doomed {
        let mut expiry = Expiry::new(d);
        for part in &channels[d.channel].windows[&d.start_ms].parts {
            if write_markers {
                let marker = marker_of(&part.path);
                match write_marker(&marker, now_ms) {
                    Ok(()) => {}
                    // Marked meanwhile by a concurrent run, which owns its removal.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        issues.push(RetentionIssue::io(IssueKind::Expire, "write expiry marker", &marker, e));
                        continue;
                    }
                }
                if let Some(dir) = part.path.parent() {
                    touched.insert(dir.to_path_buf());
                }
            }
            expiry.add(&part.path, part.bytes, now_ms);
        }
        expired.push(expiry);
    }
    for dir in touched {
        if let Err(error) = sync_dir(&dir) {
            issues.push(RetentionIssue {
                kind: IssueKind::SyncDir,
                error,
            });
        }
    }
    expired
}

/// What [`expire`] would expire, touching nothing.
pub(crate) fn pretend(channels: &[Channel], doomed: &[Doomed], now_ms: i64) -> Vec<Expiry> {
    doomed
        .iter()
        .map(|d| {
            let mut expiry = Expiry::new(d);
            for part in &channels[d.channel].windows[&d.start_ms].parts {
                expiry.add(&part.path, part.bytes, now_ms);
            }
            expiry
        })
        .collect()
}

/// Creates `marker` holding `now_ms`. Only the creation must succeed: the marker's existence
/// hides the part; a content that did not reach the disk falls back to the modification time.
fn write_marker(marker: &Path, now_ms: i64) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(marker)?;
    let written = file
        .write_all(format!("{now_ms}\n").as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        tracing::warn!(marker = %marker.display(), error = %e, "expiry marker without its time");
    }
    Ok(())
}
