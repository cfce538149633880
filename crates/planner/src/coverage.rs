//! Which slaves may hold flows of a time range: each slave answers the Flight action
//! [`COVERAGE_ACTION`] with its channels' time spans (see [`engine::coverage`]), and the master
//! leaves out of a time-bounded query the slaves whose spans miss its range.
//!
//! The master keeps each slave's last full answer (refreshed with the channel names, see
//! `channels`). It is only a hint, since a slave stores new flows all the time: a slave the hint
//! rules out is asked again, for the query's range alone, and left out only if that answer says
//! it holds nothing there. A slave that does not answer is kept. So a query costs nothing more
//! when every slave may hold flows of its range, one small request per slave it leaves out, and
//! never misses a flow a slave had stored when it asked.

use std::collections::{BTreeMap, BTreeSet};

use engine::coverage::{Span, meets};
use engine::sql::channel_table_name;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use crate::actions::ask_json;

/// Type of the Flight action a node answers with its channels' time spans.
pub const COVERAGE_ACTION: &str = "flowfold.coverage";

/// The body of a [`COVERAGE_ACTION`] request (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageRequest {
    /// Only the spans meeting this range (first, last ms, inclusive); `None`: all of them.
    pub within: Option<Span>,
}

/// A node's answer (JSON): each channel's time spans, by channel table name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Channel table name (`exporter_10_0_0_1`) -> sorted, merged spans of `flow_start`.
    pub channels: BTreeMap<String, Vec<Span>>,
}

impl Coverage {
    /// The coverage of the flows stored in `data_dir` (see [`engine::coverage::channel_coverage`]).
    pub fn of(data_dir: &std::path::Path, request: &CoverageRequest) -> Result<Coverage, engine::EngineError> {
        let channels = engine::coverage::channel_coverage(data_dir, request.within)?
            .into_iter()
            .map(|(exporter, spans)| (channel_table_name(&exporter), spans))
            .collect();
        Ok(Coverage { channels })
    }

    /// Whether any channel of `wanted` (every channel if `None`) may hold flows within `within`.
    pub fn meets(&self, wanted: Option<&BTreeSet<String>>, within: Span) -> bool {
        self.channels
            .iter()
            .filter(|(name, _)| wanted.is_none_or(|w| w.contains(*name)))
            .any(|(_, spans)| spans.iter().any(|s| meets(*s, within)))
    }
}

/// Asks the node behind `channel` for its coverage.
pub async fn ask_coverage(channel: Channel, request: &CoverageRequest) -> Result<Coverage, tonic::Status> {
    ask_json(channel, COVERAGE_ACTION, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coverage_meets_a_range_through_a_wanted_channel_only() {
        let coverage = Coverage {
            channels: BTreeMap::from([
                ("exporter_10_0_0_1".to_string(), vec![(0, 99), (200, 299)]),
                ("exporter_10_0_0_2".to_string(), vec![(100, 199)]),
                ("exporter_10_0_0_3".to_string(), vec![]),
            ]),
        };
        assert!(coverage.meets(None, (150, 150)));
        assert!(!coverage.meets(None, (300, 400)));
        assert!(coverage.meets(None, (299, 400)), "the last ms of a span counts");
        let one = BTreeSet::from(["exporter_10_0_0_1".to_string()]);
        assert!(!coverage.meets(Some(&one), (150, 150)));
        assert!(coverage.meets(Some(&one), (250, 250)));
        assert!(!Coverage::default().meets(None, (0, i64::MAX)));
        let json = serde_json::to_string(&coverage).unwrap();
        assert_eq!(serde_json::from_str::<Coverage>(&json).unwrap(), coverage);
    }
}
