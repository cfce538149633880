//! The error type of the generator, the ground-truth writer and the sender.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What can go wrong while generating, recording or sending flows.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A configuration value is out of range (a user mistake).
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The offending setting.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// An export format name is not one of `v5`, `v9`, `ipfix`.
    #[error("unknown export format {name:?} (expected v5, v9 or ipfix)")]
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// A flow was attributed to an exporter index the run does not have.
    #[error("exporter index {index} out of range (have {count})")]
    UnknownExporter {
        /// The index given.
        index: usize,
        /// How many exporters exist.
        count: usize,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing or reading the Parquet ground truth failed.
    #[error("parquet {path}: {source}")]
    Parquet {
        /// The file involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Writing the JSON summary failed.
    #[error("json {path}: {source}")]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A UDP socket could not be bound to an exporter's source address.
    #[error("bind UDP {addr}: {source}")]
    Bind {
        /// The source address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A bound socket could not be connected to the target.
    #[error("connect UDP {from} -> {target}: {source}")]
    Connect {
        /// The exporter's bound address.
        from: SocketAddr,
        /// The collector.
        target: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl DatasetError {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}
