//! Settings of the channel store.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{EngineError, Result};

/// The row order inside a sealed window (the window itself already bounds time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// By `flow_start` only: the default. Flows arrive nearly in time order, so the sort is
    /// cheap, and time-range queries prune pages. Seals about 2.3x faster than
    /// `ExporterSrcDstStart` for about 7% more bytes (see the crate README).
    #[default]
    FlowStart,
    /// By `exporter`, `src_addr`, `dst_addr`, then `flow_start`: groups conversations, which
    /// compresses the address and port columns better, at a higher sealing cost.
    ExporterSrcDstStart,
    /// By `exporter`, `protocol`, `dst_port`, then `flow_start`.
    ProtocolDstPortStart,
}

/// Settings of a [`FlowStore`](super::FlowStore).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Data directory; the flow table lives in `data_dir/flows`.
    pub data_dir: PathBuf,
    /// Window length: a whole number of minutes that divides a day (default 5 minutes).
    pub window: Duration,
    /// How often open logs are fsynced (default 1 s); bounds the loss on a crash.
    pub fsync_interval: Duration,
    /// How long after its end a window stays open for late flows (default 30 s).
    pub seal_grace: Duration,
    /// Rows after which an open window part is sealed and a new part started (bounds memory).
    pub segment_rows: usize,
    /// Open windows per channel; opening one more seals the oldest (default 16).
    pub max_open_windows: usize,
    /// Row order of sealed windows.
    pub sort: SortKey,
    /// zstd level of sealed windows (default 1: level 3 cost about 8% more sealing CPU for under
    /// 0.1 byte per flow less; see the crate README).
    pub zstd_level: i32,
    /// Maximum rows per Parquet row group (default 262,144: one row group per full segment).
    pub row_group_rows: usize,
    /// Write rollups (per-part summaries by source, destination and service) beside each sealed
    /// part, which queries over whole windows read instead of the flows (default on; see
    /// [`crate::rollup`]).
    pub rollups: bool,
    /// Windows that may wait for the seal thread before `append` blocks (default 64).
    pub seal_queue: usize,
    /// Flows whose `flow_start` lies more than this before the moment they are stored are
    /// filed in the window of that moment instead of their own (see `split`).
    pub max_lateness: Duration,
    /// Likewise for flows dated more than this after the moment they are stored.
    pub max_lead: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from("data"),
            window: Duration::from_secs(300),
            fsync_interval: Duration::from_secs(1),
            seal_grace: Duration::from_secs(30),
            segment_rows: 1 << 18,
            max_open_windows: 16,
            sort: SortKey::default(),
            zstd_level: 1,
            row_group_rows: 1 << 18,
            rollups: true,
            seal_queue: 64,
            max_lateness: Duration::from_secs(30 * 24 * 3600),
            max_lead: Duration::from_secs(3600),
        }
    }
}

impl StoreConfig {
    /// A default configuration storing under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            ..Default::default()
        }
    }

    /// The window length in ms, after checking every setting.
    pub(crate) fn validate(&self) -> Result<i64> {
        let bad = |setting, reason: &str| EngineError::Config {
            setting,
            reason: reason.into(),
        };
        let secs = self.window.as_secs();
        if self.window.subsec_nanos() != 0 || secs == 0 || !secs.is_multiple_of(60) || !86_400u64.is_multiple_of(secs) {
            return Err(bad("window", "must be a whole number of minutes that divides a day"));
        }
        if self.segment_rows == 0 {
            return Err(bad("segment_rows", "must be at least 1"));
        }
        if self.max_open_windows == 0 {
            return Err(bad("max_open_windows", "must be at least 1"));
        }
        if self.row_group_rows == 0 {
            return Err(bad("row_group_rows", "must be at least 1"));
        }
        if self.seal_queue == 0 {
            return Err(bad("seal_queue", "must be at least 1"));
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(bad("zstd_level", "must be between 1 and 22"));
        }
        Ok(secs as i64 * 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_odd_windows_do_not() {
        assert_eq!(StoreConfig::default().validate().unwrap(), 300_000);
        let odd = StoreConfig {
            window: Duration::from_secs(90),
            ..Default::default()
        };
        assert!(matches!(
            odd.validate(),
            Err(EngineError::Config { setting: "window", .. })
        ));
        let seven = StoreConfig {
            window: Duration::from_secs(7 * 60),
            ..Default::default()
        };
        assert!(seven.validate().is_err());
        let zero = StoreConfig {
            segment_rows: 0,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
    }
}
