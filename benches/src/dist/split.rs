//! Splitting the data set over the slaves by flow source: each slave gets its own data directory
//! whose `flows/` holds hard links to the files of whole exporter directories
//! (`flows/exporter=<addr>/...`), dealt round-robin in name order. No bytes are copied, and the
//! standalone reference node keeps serving the full data set.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::dataset;

/// What one slave stores.
#[derive(Debug, Clone)]
pub struct Share {
    /// The slave's name (`s1`, `s2`, ...).
    pub name: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The exporter directories it holds (`exporter=...`).
    pub exporters: Vec<String>,
    /// Sealed Parquet files.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Rows in their footers.
    pub rows: u64,
}

/// Links the exporters of `data_dir/flows` into `root/sN/flows` for `slaves` slaves, replacing
/// whatever an earlier run left there.
pub fn split(data_dir: &Path, root: &Path, slaves: usize) -> anyhow::Result<Vec<Share>> {
    let flows = data_dir.join("flows");
    let mut exporters = Vec::new();
    for entry in std::fs::read_dir(&flows).with_context(|| format!("listing {}", flows.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && name.starts_with("exporter=") {
            exporters.push(name);
        }
    }
    exporters.sort();
    if exporters.len() < slaves {
        bail!(
            "{} holds {} exporter directories, fewer than {slaves} slaves",
            flows.display(),
            exporters.len()
        );
    }
    if root.exists() {
        std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    }
    let mut shares = Vec::new();
    for i in 0..slaves {
        let name = format!("s{}", i + 1);
        let slave_dir = root.join(&name);
        let mine: Vec<String> = exporters.iter().skip(i).step_by(slaves).cloned().collect();
        for exporter in &mine {
            link_tree(&flows.join(exporter), &slave_dir.join("flows").join(exporter))?;
        }
        let (files, bytes, _, rows) = dataset::inventory(&slave_dir.join("flows"))?;
        shares.push(Share {
            name,
            data_dir: slave_dir,
            exporters: mine,
            files,
            bytes,
            rows,
        });
    }
    Ok(shares)
}

/// Recreates the directories under `from` in `to` and hard-links every file.
fn link_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else {
            std::fs::hard_link(entry.path(), &target)
                .with_context(|| format!("linking {} to {}", entry.path().display(), target.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporters_are_dealt_round_robin_as_hard_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dataset =
            dataset::prepare(&dir.path().join("work"), &dataset::Spec::new(6_000, 3, 4), false).expect("data");
        let shares = split(&dataset.data_dir, &dir.path().join("slaves"), 2).expect("split");
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].exporters.len(), 2);
        assert_eq!(shares[1].exporters.len(), 2);
        assert_ne!(shares[0].exporters, shares[1].exporters);
        assert_eq!(shares.iter().map(|s| s.rows).sum::<u64>(), dataset.rows);
        assert_eq!(shares.iter().map(|s| s.bytes).sum::<u64>(), dataset.bytes);
        // Linked, not copied: every file has a second name.
        let mut files = Vec::new();
        collect(&shares[0].data_dir, &mut files);
        assert!(!files.is_empty());
        use std::os::unix::fs::MetadataExt;
        assert!(files.iter().all(|f| std::fs::metadata(f).expect("meta").nlink() == 2));
        // A second split replaces the first.
        let again = split(&dataset.data_dir, &dir.path().join("slaves"), 2).expect("split again");
        assert_eq!(again[0].rows, shares[0].rows);
    }

    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                collect(&path, out);
            } else {
                out.push(path);
            }
        }
    }
}
