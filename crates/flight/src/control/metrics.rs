//! Control-plane counters: the master's ([`ControlServerMetrics`]) and a node's
//! ([`ControlClientMetrics`]), each logged where the event happens.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label of a refused or failed session: [`super::ControlError::reason`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `unauthenticated`, `invalid_argument`, `unreachable`, ...
    pub reason: String,
}

/// The master's control-service counters.
#[derive(Debug, Default)]
pub struct ControlServerMetrics {
    /// Sessions refused, by reason (`unauthenticated`, `invalid_argument`).
    pub rejected: Family<ReasonLabel, Counter>,
    /// Sessions accepted (a valid `Hello`).
    pub sessions: Counter,
    /// Units with a session now.
    pub connected: Gauge,
    /// The configuration version the master publishes now.
    pub config_version: Gauge,
}

impl ControlServerMetrics {
    /// New counters, shared.
    pub fn new() -> Arc<ControlServerMetrics> {
        Arc::new(ControlServerMetrics::default())
    }

    /// Registers every counter in `registry` under `flowfold_control_*`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "flowfold_control_sessions_rejected",
            "Control sessions refused, by reason",
            self.rejected.clone(),
        );
        registry.register(
            "flowfold_control_sessions_accepted",
            "Control sessions accepted",
            self.sessions.clone(),
        );
        registry.register(
            "flowfold_control_units_connected",
            "Units with a control session now",
            self.connected.clone(),
        );
        registry.register(
            "flowfold_control_config_version",
            "The configuration version the master publishes",
            self.config_version.clone(),
        );
    }

    /// Counts a refused session.
    pub fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }
}

/// A node's control-client counters.
#[derive(Debug, Default)]
pub struct ControlClientMetrics {
    /// The configuration version the node runs (0: none).
    pub config_version: Gauge,
    /// 1 while a session with a master is open.
    pub connected: Gauge,
    /// Configurations received and stored.
    pub configs_received: Counter,
    /// Sessions that failed or were refused, by reason.
    pub sessions_failed: Family<ReasonLabel, Counter>,
}

impl ControlClientMetrics {
    /// New counters, shared.
    pub fn new() -> Arc<ControlClientMetrics> {
        Arc::new(ControlClientMetrics::default())
    }

    /// Registers every counter in `registry` under `flowfold_control_*`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "flowfold_control_config_version",
            "The configuration version this node runs (0: none)",
            self.config_version.clone(),
        );
        registry.register(
            "flowfold_control_connected",
            "1 while a control session with a master is open",
            self.connected.clone(),
        );
        registry.register(
            "flowfold_control_configs_received",
            "Configurations received from a master and stored",
            self.configs_received.clone(),
        );
        registry.register(
            "flowfold_control_sessions_failed",
            "Control sessions that failed or were refused, by reason",
            self.sessions_failed.clone(),
        );
    }

    /// Counts a failed session.
    pub fn fail(&self, reason: &str) {
        self.sessions_failed
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }
}

/// A version as a gauge value.
pub(crate) fn gauge_value(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}
