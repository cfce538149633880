//! The profile record, as stored and as the admin routes take and return it (JSON).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::addr::{Addr16, from_ip};

/// The profile of the stored flows; its channels are the flow sources.
pub const LIVE_PROFILE: &str = "live";

/// A sub-profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Its SQL schema name: lower case letters, digits and `_`, starting with a letter.
    pub name: String,
    /// `live` or another profile.
    #[serde(default = "live")]
    pub parent: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The parent's channels this profile reads; empty: all of them, including channels the
    /// parent gains later (new flow sources, for a child of `live`). A source of `live` is its
    /// channel table name (`exporter_10_0_0_1`) or the exporter's address (`10.0.0.1`).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Its channels (at least one).
    pub channels: Vec<ProfileChannel>,
    /// Only flows starting within this span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<TimeSpan>,
    /// How long and how much of its sources' data the profile wants kept; its tables show only
    /// flows within `max_age` (see `retention.rs`).
    #[serde(default)]
    pub retention: Retention,
    /// The catalog version of the profile's last change (set by the catalog).
    #[serde(default)]
    pub version: u64,
}

fn live() -> String {
    LIVE_PROFILE.to_string()
}

/// A channel: a named filter over the profile's sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileChannel {
    /// Its table name in the profile's schema (not `flows`).
    pub name: String,
    /// Which flows of the sources it holds.
    pub filter: ChannelFilter,
}

/// A channel's filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelFilter {
    /// nfdump filter syntax: `proto tcp and dst port 443`.
    Nfdump(String),
    /// A SQL predicate over the flow columns: `dst_port = 443 AND ip_in(src_addr, '10.0.0.0/8')`.
    Sql(String),
}

/// A half-open span of `flow_start`, milliseconds since the epoch; a missing end is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpan {
    /// First `flow_start` included.
    #[serde(default)]
    pub start_ms: Option<i64>,
    /// First `flow_start` excluded.
    #[serde(default)]
    pub end_ms: Option<i64>,
}

/// Retention wishes of a profile (unset: no wish; the node's own retention applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep flows at most this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
    /// Keep at most this many bytes of its sources' stored windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// Every profile and deleted flow source, at one catalog version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSet {
    /// Incremented by every change.
    pub version: u64,
    /// By name.
    pub profiles: BTreeMap<String, Profile>,
    /// Flow sources deleted from the live profile: exporter address (text) -> when (ms since the
    /// epoch). See `profiles/sources.rs`.
    #[serde(default)]
    pub deleted_sources: BTreeMap<String, i64>,
}

impl Profile {
    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&ProfileChannel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

impl ProfileSet {
    /// The profile named `name`.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// The exporters of the deleted flow sources.
    pub fn deleted_exporters(&self) -> Vec<Addr16> {
        self.deleted_sources
            .keys()
            .filter_map(|a| a.parse().ok().map(from_ip))
            .collect()
    }

    /// The profiles whose parent is `name`.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Profile> + 'a {
        self.profiles.values().filter(move |p| p.parent == name)
    }
}
