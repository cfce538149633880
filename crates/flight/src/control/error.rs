//! [`ControlError`]: what can go wrong on the control plane, and its gRPC status.

use std::path::PathBuf;

/// A control-plane error. Refusals of a node's session (`Unauthenticated`, the `Bad*` and
/// `NoHello` variants) are the node's mistakes; the others are I/O or transport failures.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No or a wrong token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The session did not start with a `Hello`.
    #[error("the first message of a session must be Hello, got {0}")]
    NoHello(&'static str),
    /// A `Hello` with a bad field, or a second one.
    #[error("bad Hello: {0}")]
    BadHello(String),
    /// A configuration that cannot be read.
    #[error("configuration version {version} cannot be read: {reason}")]
    BadConfig { version: u64, reason: String },
    /// A configuration that cannot be written as JSON.
    #[error("cannot encode the configuration: {0}")]
    Encode(String),
    /// The stored configuration file is not a configuration.
    #[error("the stored configuration {path} is corrupt: {reason}")]
    CorruptStoredConfig { path: PathBuf, reason: String },
    /// Reading or writing a file.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A master that cannot be reached or ended the session.
    #[error("master {master}: {reason}")]
    Transport { master: String, reason: String },
    /// The master refused the session.
    #[error("master {master} refused the session: {status}")]
    Refused { master: String, status: tonic::Status },
}

impl ControlError {
    /// The gRPC status a refused session gets.
    pub fn to_status(&self) -> tonic::Status {
        match self {
            ControlError::Unauthenticated(_) => tonic::Status::unauthenticated(self.to_string()),
            ControlError::NoHello(_) | ControlError::BadHello(_) => tonic::Status::invalid_argument(self.to_string()),
            _ => tonic::Status::internal(self.to_string()),
        }
    }

    /// The `reason` label of a refused session's counter.
    pub fn reason(&self) -> &'static str {
        match self {
            ControlError::Unauthenticated(_) => "unauthenticated",
            ControlError::NoHello(_) | ControlError::BadHello(_) => "invalid_argument",
            ControlError::Refused { status, .. } => match status.code() {
                tonic::Code::Unauthenticated => "unauthenticated",
                tonic::Code::InvalidArgument => "invalid_argument",
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => "unreachable",
                _ => "refused",
            },
            ControlError::BadConfig { .. } => "bad_config",
            ControlError::Transport { .. } => "unreachable",
            _ => "internal",
        }
    }
}
