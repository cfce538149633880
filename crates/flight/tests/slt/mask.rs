//! Replaces the fixture's temporary data directory with `DATA` in query output and errors, so
//! plans that name files compare the same on every run.

use std::path::Path;

/// The texts that stand for the data directory, longest first.
#[derive(Debug, Clone)]
pub struct DataDirMask {
    forms: Vec<String>,
}

impl DataDirMask {
    /// A mask for `data_dir` (an absolute path). Plans print local files as object store paths,
    /// which lack the leading `/`, so both forms are replaced.
    pub fn new(data_dir: &Path) -> DataDirMask {
        let full = data_dir.to_string_lossy().trim_end_matches('/').to_string();
        let relative = full.trim_start_matches('/').to_string();
        DataDirMask {
            forms: vec![full, relative],
        }
    }

    /// `text` with every form of the data directory replaced by `DATA`.
    pub fn apply(&self, text: &str) -> String {
        self.forms
            .iter()
            .filter(|form| !form.is_empty())
            .fold(text.to_string(), |out, form| out.replace(form.as_str(), "DATA"))
    }
}
