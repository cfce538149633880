//! Errors of the profile catalog.

/// Why a profile change or lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A profile, channel or source name is not usable.
    #[error("bad name '{name}': {reason}")]
    BadName {
        /// The offending name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No profile has this name.
    #[error("profile '{0}' does not exist")]
    NoProfile(String),
    /// The profile has no channel of this name.
    #[error("profile '{profile}' has no channel '{channel}'")]
    NoChannel {
        /// The profile.
        profile: String,
        /// The missing channel.
        channel: String,
    },
    /// A profile of this name exists already.
    #[error("profile '{0}' exists already")]
    Exists(String),
    /// The change would break other profiles or the profile itself.
    #[error("profile '{profile}': {reason}")]
    Invalid {
        /// The profile changed.
        profile: String,
        /// What is wrong.
        reason: String,
    },
    /// A channel's filter does not compile.
    #[error("profile '{profile}' channel '{channel}': {reason}")]
    BadFilter {
        /// The profile.
        profile: String,
        /// The channel.
        channel: String,
        /// The compiler's message (with the position for nfdump filters).
        reason: String,
    },
    /// The catalog file failed.
    #[error("profile catalog {op}: {source}")]
    Store {
        /// What was being done.
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored profile does not decode.
    #[error("profile catalog: stored profile '{name}' is unreadable: {reason}")]
    Corrupt {
        /// The profile.
        name: String,
        /// The decoder's message.
        reason: String,
    },
}

impl ProfileError {
    /// `map_err` helper for SQLite calls.
    pub(crate) fn store(op: &'static str) -> impl FnOnce(rusqlite::Error) -> ProfileError {
        move |source| ProfileError::Store { op, source }
    }

    /// Whether the error is the caller's (a bad or conflicting request) rather than the store's.
    pub fn is_request_error(&self) -> bool {
        !matches!(self, ProfileError::Store { .. } | ProfileError::Corrupt { .. })
    }
}
