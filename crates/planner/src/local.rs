//! What a slave's worker knows about itself: its name and where its flows are. Put in the
//! worker's session config, read by [`crate::scan::SlaveScanExec`] when it runs there.

use std::path::PathBuf;

/// The flows stored on this node.
#[derive(Debug, Clone)]
pub struct LocalFlows {
    /// The slave's configured name (the topology's `slaves[].name`).
    pub name: String,
    /// Its data directory.
    pub data_dir: PathBuf,
}

impl LocalFlows {
    /// Slave `name` storing its flows under `data_dir`.
    pub fn new(name: impl Into<String>, data_dir: impl Into<PathBuf>) -> LocalFlows {
        LocalFlows {
            name: name.into(),
            data_dir: data_dir.into(),
        }
    }
}
