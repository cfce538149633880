//! Query counters on the node's `/metrics` endpoint.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label of a failed query: what kind of error ended it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    /// [`crate::QueryError::kind`].
    pub kind: String,
}

/// Label of a failover: the proxy group found down.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabel {
    /// The proxy group's name.
    pub proxy_group: String,
}

/// Counters of the query service.
#[derive(Debug, Default)]
pub struct QueryMetrics {
    /// Queries admitted and started.
    pub started: Counter,
    /// Queries whose results were sent in full.
    pub finished: Counter,
    /// Queries that ended with an error, by kind (incl. timeouts and rejections).
    pub failed: Family<ErrorLabel, Counter>,
    /// Queries whose client went away before the end; their work was stopped.
    pub cancelled: Counter,
    /// Queries running now.
    pub running: Gauge,
    /// Rows sent to clients.
    pub rows_sent: Counter,
    /// Queries retried because a proxy group failed them, by that group (masters only).
    pub failovers: Family<GroupLabel, Counter>,
    /// Queries answered, by each proxy group that served them (masters only).
    pub served: Family<GroupLabel, Counter>,
}

impl QueryMetrics {
    /// New counters, shared.
    pub fn new() -> Arc<QueryMetrics> {
        Arc::new(QueryMetrics::default())
    }

    /// Registers every counter in `registry` under `flowfold_queries_*`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("flowfold_queries_started", "Queries started", self.started.clone());
        registry.register(
            "flowfold_queries_finished",
            "Queries answered in full",
            self.finished.clone(),
        );
        registry.register(
            "flowfold_queries_failed",
            "Queries ended by an error, by kind",
            self.failed.clone(),
        );
        registry.register(
            "flowfold_queries_cancelled",
            "Queries stopped because the client went away",
            self.cancelled.clone(),
        );
        registry.register("flowfold_queries_running", "Queries running now", self.running.clone());
        registry.register(
            "flowfold_query_rows_sent",
            "Result rows sent to clients",
            self.rows_sent.clone(),
        );
        registry.register(
            "flowfold_query_failovers",
            "Queries retried on another proxy group, by the group that failed",
            self.failovers.clone(),
        );
        registry.register(
            "flowfold_query_served",
            "Queries answered, by each proxy group that served them",
            self.served.clone(),
        );
    }

    /// Counts a failed query.
    pub fn fail(&self, kind: &str) {
        self.failed.get_or_create(&ErrorLabel { kind: kind.to_string() }).inc();
    }
}
