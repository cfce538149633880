//! Phase 2 of removing a window: deleting the expired parts whose grace has passed, and pruning
//! the directories they leave empty.
//!
//! Each part is unlinked on its own, its sealed file first and then its marker, so a crash in
//! between leaves a marker alone (removed by the next run) and never a sealed file that reappears
//! in queries. A failure is an issue and the run goes on; a part whose sealed file could not be
//! unlinked keeps its marker. Then every directory that held a removed file is removed if it is
//! now empty, and so on up to (not including) `DATA/flows`; a directory that is not empty, or
//! whose entry was removed, is fsynced (`layout::sync_dir`) so the deletions survive a crash.
//! `remove_dir` never removes a directory that is not empty, so an open log that appears
//! meanwhile keeps its directory; the store re-creates a directory removed between its own
//! `ensure_dir` and file creation.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::decide::Due;
use super::report::{FreedWindow, IssueKind, RetentionIssue};
use crate::layout::{flows_root, stem_path, sync_dir};
use crate::rollup::{PartSet, RollupFile};

/// Deletes the parts of every due window; returns what was freed, by due window.
pub(crate) fn remove(data_dir: &Path, due: &[Due], issues: &mut Vec<RetentionIssue>) -> Vec<FreedWindow> {
    let mut touched = BTreeSet::new();
    let mut freed = Vec::with_capacity(due.len());
    let mut summed_cleared = BTreeSet::new();
    for d in due {
        let mut window = FreedWindow::new(d.start_ms);
        for part in &d.parts {
            // The summed rollups of its hour and day go first: one that outlived a part could be
            // taken for the sum of a later part of the same name.
            let hour = part.path.parent();
            for dir in [hour, hour.and_then(Path::parent)].into_iter().flatten() {
                if summed_cleared.insert(dir.to_path_buf()) {
                    remove_summed_rollups(dir, issues);
                }
            }
            match fs::remove_file(&part.path) {
                Ok(()) => {
                    window.files.push(part.path.clone());
                    window.bytes_freed += part.bytes;
                }
                // Removed meanwhile, or by an earlier run that stopped before the marker: not
                // freed by this run.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    issues.push(RetentionIssue::io(IssueKind::Remove, "remove window", &part.path, e));
                    continue;
                }
            }
            remove_rollups(&part.path, issues);
            if let Some(stem) = stem_path(&part.path)
                && let Err(e) = crate::outliers::unmark(&stem)
            {
                issues.push(RetentionIssue::io(
                    IssueKind::Remove,
                    "remove outlier marker",
                    &part.path,
                    e,
                ));
            }
            match fs::remove_file(&part.marker) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => issues.push(RetentionIssue::io(
                    IssueKind::Remove,
                    "remove expiry marker",
                    &part.marker,
                    e,
                )),
            }
            if let Some(dir) = part.path.parent() {
                touched.insert(dir.to_path_buf());
            }
        }
        freed.push(window);
    }
    prune(&flows_root(data_dir), touched, issues);
    freed
}

/// Removes the rollups of the sealed part at `path` (derived data: a failure is an issue, and a
/// rollup left behind is never read without its part, and is removed at the next open).
fn remove_rollups(path: &Path, issues: &mut Vec<RetentionIssue>) {
    let (Some(dir), Some(stem)) = (path.parent(), stem_path(path)) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let rollup = entry.path();
        if RollupFile::parse(&rollup).is_some_and(|r| r.stem_path == stem) {
            match fs::remove_file(&rollup) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => issues.push(RetentionIssue::io(IssueKind::Remove, "remove rollup", &rollup, e)),
            }
        }
    }
}

/// Removes the hourly or daily rollups in the directory `dir` (see [`crate::rollup::PartSet`]).
fn remove_summed_rollups(dir: &Path, issues: &mut Vec<RetentionIssue>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let rollup = entry.path();
        if RollupFile::parse(&rollup).is_some_and(|r| PartSet::of_rollup(&r).is_some()) {
            match fs::remove_file(&rollup) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => issues.push(RetentionIssue::io(
                    IssueKind::Remove,
                    "remove summed rollup",
                    &rollup,
                    e,
                )),
            }
        }
    }
}

/// What [`remove`] would free, touching nothing.
pub(crate) fn pretend(due: &[Due]) -> Vec<FreedWindow> {
    due.iter()
        .map(|d| {
            let mut window = FreedWindow::new(d.start_ms);
            for part in d.parts.iter().filter(|p| p.bytes > 0) {
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
