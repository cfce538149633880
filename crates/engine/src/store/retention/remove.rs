//! Deleting the chosen windows and pruning the directories they leave empty.
//!
//! Each sealed part is unlinked on its own; a failure is an issue and the run goes on. Then
//! every directory that held a removed file is removed if it is now empty, and so on up to (not
//! including) `DATA/flows`; a directory that is not empty, or whose entry was removed, is fsynced
//! (`layout::sync_dir`) so the deletions survive a crash. `remove_dir` never removes a directory
//! that is not empty, so an open log that appears meanwhile keeps its directory; the store
//! re-creates a directory removed between its own `ensure_dir` and file creation.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::decide::Doomed;
use super::inventory::Channel;
use super::report::{IssueKind, RemovedWindow, RetentionIssue};
use crate::layout::{flows_root, sync_dir};

/// Deletes the parts of every doomed window; returns what was removed, by doomed window.
pub(crate) fn remove(
    data_dir: &Path,
    channels: &[Channel],
    doomed: &[Doomed],
    issues: &mut Vec<RetentionIssue>,
) -> Vec<RemovedWindow> {
    let mut touched = BTreeSet::new();
    let mut removed = Vec::with_capacity(doomed.len());
    for d in doomed {
        let mut window = RemovedWindow::new(d);
        for part in &channels[d.channel].windows[&d.start_ms].parts {
            match fs::remove_file(&part.path) {
                Ok(()) => {
                    window.files.push(part.path.clone());
                    window.bytes_freed += part.bytes;
                }
                // Removed meanwhile by someone else: not freed by this run.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => issues.push(RetentionIssue::io(IssueKind::Remove, "remove window", &part.path, e)),
            }
            if let Some(dir) = part.path.parent() {
                touched.insert(dir.to_path_buf());
            }
        }
        removed.push(window);
    }
    prune(&flows_root(data_dir), touched, issues);
    removed
}

/// What [`remove`] would remove, touching nothing.
pub(crate) fn pretend(channels: &[Channel], doomed: &[Doomed]) -> Vec<RemovedWindow> {
    doomed
        .iter()
        .map(|d| {
            let mut window = RemovedWindow::new(d);
            for part in &channels[d.channel].windows[&d.start_ms].parts {
                window.files.push(part.path.clone());
                window.bytes_freed += part.bytes;
            }
            window
        })
        .collect()
}

/// Removes the empty directories among `dirs` and then their empty parents, stopping at `root`;
/// fsyncs every surviving directory whose entries changed.
fn prune(root: &Path, mut dirs: BTreeSet<PathBuf>, issues: &mut Vec<RetentionIssue>) {
    let mut to_sync = BTreeSet::new();
    while !dirs.is_empty() {
        let mut parents = BTreeSet::new();
        for dir in dirs {
            if dir == root || !dir.starts_with(root) {
                to_sync.insert(dir);
                continue;
            }
            match fs::remove_dir(&dir) {
                Ok(()) => {
                    if let Some(parent) = dir.parent() {
                        parents.insert(parent.to_path_buf());
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
                    to_sync.insert(dir);
                }
                Err(e) => {
                    issues.push(RetentionIssue::io(
                        IssueKind::RemoveDir,
                        "remove empty directory",
                        &dir,
                        e,
                    ));
                    to_sync.insert(dir);
                }
            }
        }
        dirs = parents;
    }
    for dir in to_sync {
        if let Err(error) = sync_dir(&dir) {
            let gone = matches!(&error, crate::EngineError::Io { source, .. } if source.kind() == ErrorKind::NotFound);
            if !gone {
                issues.push(RetentionIssue {
                    kind: IssueKind::SyncDir,
                    error,
                });
            }
        }
    }
}
