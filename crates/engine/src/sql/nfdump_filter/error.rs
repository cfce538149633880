//! The one error of the filter language: what is wrong, and where in the filter text.

/// A filter that does not parse: the cause and the byte offset in the filter text where it was
/// found (0 is the first character). Shown as `at 12: expected a port number after 'port', found
/// 'http'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {position}: {message}")]
pub struct FilterError {
    /// What is wrong, naming the offending text.
    pub message: String,
    /// Byte offset of the offending text in the filter (0-based).
    pub position: usize,
}

impl FilterError {
    /// An error at `position` (a byte offset into the filter text).
    pub fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            position,
        }
    }
}
