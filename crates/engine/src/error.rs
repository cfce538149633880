//! The engine's error type.

use std::path::PathBuf;

/// Errors raised by the engine: storage I/O, Arrow and Parquet failures, bad stored files.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Arrow failed to encode or decode a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet failed to encode or decode a file.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A stored file does not have the flow schema or is otherwise unusable.
    #[error("bad stored file {path}: {reason}")]
    BadFile {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A query over stored flows failed.
    #[error("query: {0}")]
    #[cfg(feature = "sql")]
    Query(#[from] datafusion::error::DataFusionError),
    /// A timestamp cannot be placed in a window (outside the calendar's range).
    #[error("timestamp {ms} ms is out of the supported range")]
    TimeOutOfRange {
        /// The offending time, ms since the epoch.
        ms: i64,
    },
    /// A batch handed to the store does not have the flow schema.
    #[error("batch does not have the flow schema: {reason}")]
    BadBatch {
        /// What differs.
        reason: String,
    },
    /// A storage setting is invalid.
    #[error("invalid storage setting {setting}: {reason}")]
    Config {
        /// The setting's name.
        setting: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// The seal thread stopped (it panicked or was shut down) and cannot take work.
    #[error("seal thread is gone; {path} was left as a write-ahead log for recovery")]
    SealerGone {
        /// The window file that could not be queued.
        path: PathBuf,
    },
}

impl EngineError {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Io { op, path, source }
    }
}

/// Result type of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
