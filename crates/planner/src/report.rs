//! What a query on the master read: the proxy group that served each source group, and the
//! source groups left out of a partial answer. The runner puts a [`QueryReport`] in the query's
//! session config; the flow table records its selection there when the query is planned; the
//! runner attaches it to the result schema's metadata (`flowfold.served_by`,
//! `flowfold.missing`), so every client can see it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::topology::Selection;

/// Metadata key: `source_group=proxy_group` pairs, comma separated.
pub const SERVED_BY_KEY: &str = "flowfold.served_by";
/// Metadata key: the source groups no proxy group could answer for (partial answers only).
pub const MISSING_KEY: &str = "flowfold.missing";
/// Request header asking for a partial answer when a source group cannot answer.
pub const PARTIAL_HEADER: &str = "x-flowfold-partial-results";

/// One query's report.
#[derive(Debug, Default)]
pub struct QueryReport {
    partial_allowed: bool,
    state: Mutex<Served>,
}

/// The groups that served a query.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Served {
    /// `(source group, proxy group)`, in topology order.
    pub groups: Vec<(String, String)>,
    /// Source groups left out (only when partial answers were asked for).
    pub missing: Vec<String>,
}

impl QueryReport {
    /// A report for a query that accepts a partial answer or not.
    pub fn new(partial_allowed: bool) -> QueryReport {
        QueryReport {
            partial_allowed,
            state: Mutex::new(Served::default()),
        }
    }

    /// Whether the query accepts a partial answer.
    pub fn partial_allowed(&self) -> bool {
        self.partial_allowed
    }

    /// Records the groups a scan was planned on.
    pub fn record(&self, selection: &[Selection], missing: &[String]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for s in selection {
            let pair = (s.source_group.clone(), s.proxy_group.clone());
            if !state.groups.contains(&pair) {
                state.groups.push(pair);
            }
        }
        for m in missing {
            if !state.missing.contains(m) {
                state.missing.push(m.clone());
            }
        }
    }

    /// What was recorded.
    pub fn served(&self) -> Served {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Served {
    /// The schema metadata of the answer.
    pub fn metadata(&self) -> HashMap<String, String> {
        let pairs: Vec<String> = self.groups.iter().map(|(s, p)| format!("{s}={p}")).collect();
        let mut metadata = HashMap::from([(SERVED_BY_KEY.to_string(), pairs.join(","))]);
        if !self.missing.is_empty() {
            metadata.insert(MISSING_KEY.to_string(), self.missing.join(","));
        }
        metadata
    }
}
