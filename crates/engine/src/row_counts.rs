//! The number of flows in a snapshot without reading them: each sealed part's count from its
//! Parquet footer, remembered per file, plus the rows of the open windows' batches (already in
//! memory). A remembered count is used only while the file keeps the length and modification time
//! it had when its footer was read, so a part rewritten under the same name is read again.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use parquet::file::metadata::ParquetMetaDataReader;

use crate::error::{EngineError, Result};
use crate::snapshot::FlowSnapshot;

/// Files remembered beyond those of the last count before the others are forgotten.
const SLACK: usize = 1024;

/// Row counts of sealed parts, remembered between counts.
#[derive(Debug, Default)]
pub struct RowCounts {
    parts: Mutex<HashMap<PathBuf, PartRows>>,
}

/// A sealed part's row count and the file identity it was read from.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PartRows {
    len: u64,
    modified: Option<SystemTime>,
    rows: u64,
}

impl RowCounts {
    /// An empty memory.
    pub fn new() -> RowCounts {
        RowCounts::default()
    }

    /// The flows of `snapshot`: its sealed parts' rows and its open batches' rows (blocking
    /// file I/O: one `stat` per part, and a footer read for a part not seen before).
    pub fn count(&self, snapshot: &FlowSnapshot) -> Result<u64> {
        let open: u64 = snapshot.open_batches.iter().map(|b| b.num_rows() as u64).sum();
        let mut sealed = 0u64;
        for path in &snapshot.parquet_files {
            sealed += self.part_rows(path)?;
        }
        self.forget_beyond(&snapshot.parquet_files);
        Ok(open + sealed)
    }

    /// Files whose count is remembered.
    pub fn remembered(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, PartRows>> {
        self.parts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn part_rows(&self, path: &Path) -> Result<u64> {
        let meta = std::fs::metadata(path).map_err(EngineError::io("stat sealed part", path))?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        if let Some(known) = self.lock().get(path)
            && known.len == len
            && known.modified == modified
        {
            return Ok(known.rows);
        }
        let rows = footer_rows(path)?;
        self.lock().insert(path.to_path_buf(), PartRows { len, modified, rows });
        Ok(rows)
    }

    /// Keeps memory bounded: past [`SLACK`] extra files, only the files of the last count stay.
    fn forget_beyond(&self, counted: &[PathBuf]) {
        let mut parts = self.lock();
        if parts.len() > counted.len() + SLACK {
            let keep: HashSet<&PathBuf> = counted.iter().collect();
            parts.retain(|path, _| keep.contains(path));
        }
    }
}

/// The row count in the footer of the Parquet file at `path`.
fn footer_rows(path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(EngineError::io("open sealed part", path))?;
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| EngineError::BadFile {
            path: path.to_path_buf(),
            reason: format!("unreadable Parquet footer: {e}"),
        })?;
    let rows = metadata.file_metadata().num_rows();
    u64::try_from(rows).map_err(|_| EngineError::BadFile {
        path: path.to_path_buf(),
        reason: format!("negative row count {rows} in the Parquet footer"),
    })
}

#[cfg(all(test, feature = "sql"))]
mod tests {
    use super::*;
    use crate::sql::test_flows::{flows, write_flows};
    use crate::{FlowBatchBuilder, FlowStore, StoreConfig};

    fn sealed_rows(snapshot: &FlowSnapshot) -> u64 {
        snapshot.parquet_files.iter().map(|p| footer_rows(p).unwrap()).sum()
    }

    #[test]
    fn counts_sealed_and_open_rows_and_remembers_each_part() {
        let dir = write_flows(&flows());
        let (mut store, _) = FlowStore::open(StoreConfig::new(dir.path())).unwrap();
        let mut more = FlowBatchBuilder::with_capacity(7);
        flows()[..7].iter().for_each(|r| more.append(r));
        store.append(&more.finish()).unwrap();

        let snapshot = FlowSnapshot::take(dir.path()).unwrap();
        assert!(!snapshot.parquet_files.is_empty() && !snapshot.open_batches.is_empty());
        let counts = RowCounts::new();
        assert_eq!(counts.count(&snapshot).unwrap(), 67);
        assert_eq!(counts.remembered(), snapshot.parquet_files.len());
        assert_eq!(counts.count(&snapshot).unwrap(), 67);
        store.close().unwrap();
    }

    #[test]
    fn a_part_rewritten_under_its_name_is_read_again() {
        let dir = write_flows(&flows());
        let snapshot = FlowSnapshot::take(dir.path()).unwrap();
        let counts = RowCounts::new();
        assert_eq!(counts.count(&snapshot).unwrap(), 60);

        // Another data set's part copied over the first part: another length, another count.
        let other = write_flows(&flows()[..3]);
        let other_part = FlowSnapshot::take(other.path()).unwrap().parquet_files[0].clone();
        std::fs::copy(&other_part, &snapshot.parquet_files[0]).unwrap();
        let expected = sealed_rows(&snapshot);
        assert_ne!(expected, 60);
        assert_eq!(counts.count(&snapshot).unwrap(), expected);
    }

    #[test]
    fn a_torn_footer_is_a_bad_file_naming_the_part() {
        let dir = write_flows(&flows());
        let snapshot = FlowSnapshot::take(dir.path()).unwrap();
        let part = &snapshot.parquet_files[0];
        let bytes = std::fs::read(part).unwrap();
        std::fs::write(part, &bytes[..bytes.len() - 3]).unwrap();
        let err = RowCounts::new().count(&snapshot).unwrap_err().to_string();
        assert!(
            err.contains("unreadable Parquet footer") && err.contains(&part.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn memory_stays_bounded_to_the_last_count_plus_slack() {
        let dir = write_flows(&flows());
        let snapshot = FlowSnapshot::take(dir.path()).unwrap();
        let counts = RowCounts::new();
        {
            let mut parts = counts.lock();
            for i in 0..SLACK + 5 {
                let gone = PartRows {
                    len: 1,
                    modified: None,
                    rows: 1,
                };
                parts.insert(PathBuf::from(format!("/gone/{i}.parquet")), gone);
            }
        }
        assert_eq!(counts.count(&snapshot).unwrap(), 60);
        assert_eq!(counts.remembered(), snapshot.parquet_files.len());
    }
}
