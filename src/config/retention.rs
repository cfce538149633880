//! `[retention]`: how long and how much sealed flow data a node keeps. Every limit is optional;
//! none set keeps everything forever. A window that goes is expired first (hidden from new
//! queries) and removed from disk `grace` later, so queries already reading it finish.

use std::time::Duration;

use engine::store::retention::{RetentionPolicy, RetentionRules};
use serde::{Deserialize, Serialize};

use super::units::{Bytes, Span};

/// `[retention]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Sealed windows that ended longer ago than this are removed (every channel).
    pub max_age: Option<Span>,
    /// The node's disk cap: while all channels' sealed windows together exceed it, the oldest
    /// window of any channel is removed.
    pub max_bytes: Option<Bytes>,
    /// Per channel (flow source): while one channel's sealed windows exceed it, its oldest
    /// window is removed.
    pub channel_max_bytes: Option<Bytes>,
    /// How often the limits are enforced.
    pub check_interval: Span,
    /// How long an expired window stays on disk, readable by the queries that listed it before
    /// it expired, before it is removed. Default: `[query] timeout` (a query running longer is
    /// cancelled anyway). `"0s"` removes at once.
    pub grace: Option<Span>,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            max_age: None,
            max_bytes: None,
            channel_max_bytes: None,
            check_interval: Span(Duration::from_secs(60)),
            grace: None,
        }
    }
}

impl RetentionSection {
    /// Rejects values that parse but cannot be meant; the error names the key.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.check_interval.0.is_zero() {
            anyhow::bail!("retention.check_interval must be longer than 0s");
        }
        if self.max_age.is_some_and(|a| a.0.is_zero()) {
            anyhow::bail!("retention.max_age must be longer than 0s (leave it out to keep flows forever)");
        }
        for (key, value) in [
            ("max_bytes", self.max_bytes),
            ("channel_max_bytes", self.channel_max_bytes),
        ] {
            if value.is_some_and(|b| b.0 == 0) {
                anyhow::bail!("retention.{key} must be more than 0 bytes (leave it out for no limit)");
            }
        }
        Ok(())
    }

    /// The grace of expired windows: `grace`, or else the node's query timeout.
    pub fn grace(&self, query_timeout: Duration) -> Duration {
        self.grace.map_or(query_timeout, |g| g.0)
    }

    /// The engine's rules for these settings (the same policy for every channel).
    pub fn rules(&self) -> RetentionRules {
        RetentionRules::new(RetentionPolicy {
            max_age: self.max_age.map(|a| a.0),
            max_bytes: self.channel_max_bytes.map(|b| b.0 as u64),
        })
        .with_max_total_bytes(self.max_bytes.map(|b| b.0 as u64))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::NodeConfig;

    #[test]
    fn the_grace_defaults_to_the_query_timeout_and_may_be_zero() {
        let c = NodeConfig::parse("[query]\ntimeout = \"20m\"").unwrap();
        assert_eq!(c.retention.grace(c.query.timeout.0), Duration::from_secs(1200));
        let c = NodeConfig::parse("[retention]\ngrace = \"0s\"").unwrap();
        assert_eq!(c.retention.grace(c.query.timeout.0), Duration::ZERO);
        let c = NodeConfig::parse("[retention]\ngrace = \"1h\"").unwrap();
        assert_eq!(c.retention.grace(c.query.timeout.0), Duration::from_secs(3600));
        let err = format!("{:#}", NodeConfig::parse("[retention]\ngrace = \"soon\"").unwrap_err());
        assert!(err.contains("grace") || err.contains("soon"), "{err}");
    }
}
