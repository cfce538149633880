//! Rollup files: their names (which carry the part's first and last flow start) and writing one.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::RollupKind;
use crate::error::{EngineError, Result};
use crate::schema::col;

/// Extension of rollup files.
pub const ROLLUP_EXT: &str = "rollup";

/// A rollup file, known by its name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupFile {
    /// The file.
    pub path: PathBuf,
    /// The window part it summarizes: its path without extension.
    pub stem_path: PathBuf,
    /// What it is keyed by.
    pub kind: RollupKind,
    /// The earliest `flow_start` of the part, ms.
    pub first_start_ms: i64,
    /// The latest `flow_start` of the part, ms.
    pub last_start_ms: i64,
}

impl RollupFile {
    /// The rollup of `kind` for the part at `stem_path` whose flows start between `first` and
    /// `last` (ms, inclusive).
    pub fn new(stem_path: &Path, kind: RollupKind, first: i64, last: i64) -> RollupFile {
        let mut name = stem_path.as_os_str().to_os_string();
        name.push(format!(".{}.{first}.{last}.{ROLLUP_EXT}", kind.name()));
        RollupFile {
            path: PathBuf::from(name),
            stem_path: stem_path.to_path_buf(),
            kind,
            first_start_ms: first,
            last_start_ms: last,
        }
    }

    /// Reads a rollup file's name; `None` if `path` is not one.
    pub fn parse(path: &Path) -> Option<RollupFile> {
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_suffix(ROLLUP_EXT)?.strip_suffix('.')?;
        let mut fields = rest.rsplitn(4, '.');
        let last = fields.next()?.parse().ok()?;
        let first = fields.next()?.parse().ok()?;
        let kind = RollupKind::parse(fields.next()?)?;
        let stem = fields.next()?;
        Some(RollupFile {
            path: path.to_path_buf(),
            stem_path: path.with_file_name(stem),
            kind,
            first_start_ms: first,
            last_start_ms: last,
        })
    }
}

/// Writes `batch` (the rollup of `file.kind`) to `file.path` atomically: a temporary file,
/// fsync, rename. The caller fsyncs the directory. Returns the file's size.
pub fn write_rollup(file: &RollupFile, batch: &RecordBatch) -> Result<u64> {
    let mut tmp = file.path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let out = File::create(&tmp).map_err(EngineError::io("create rollup", &tmp))?;
    // Keys are unique within a rollup, so a dictionary never pays; ports and protocols are
    // sorted, so their deltas are small. Measured on the query benchmark's rollups against
    // dictionaries everywhere: `port` rollups 54% smaller, `src` and `dst` 16%.
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(false)
        .set_column_encoding(ColumnPath::from(col::PROTOCOL), Encoding::DELTA_BINARY_PACKED)
        .set_column_encoding(ColumnPath::from(col::DST_PORT), Encoding::DELTA_BINARY_PACKED)
        .build();
    let mut writer = ArrowWriter::try_new(BufWriter::new(out), file.kind.schema(), Some(props))?;
    writer.write(batch)?;
    let out = writer
        .into_inner()?
        .into_inner()
        .map_err(|e| EngineError::io("flush rollup", &tmp)(e.into_error()))?;
    out.sync_all().map_err(EngineError::io("fsync rollup", &tmp))?;
    let len = out.metadata().map_err(EngineError::io("stat rollup", &tmp))?.len();
    std::fs::rename(&tmp, &file.path).map_err(EngineError::io("rename rollup", &tmp))?;
    Ok(len)
}
