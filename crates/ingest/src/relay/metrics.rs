//! Counters of a proxy's forwarder, in the same Prometheus registry as everything else.
//!
//! Per-slave and per-reason counters are resolved once per forwarding thread, so counting a
//! datagram costs an atomic add, not a label hash.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::ListenerLabel;

/// Label set naming a slave by its relay address.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SlaveLabel {
    /// The slave's relay address as text.
    pub slave: String,
}

/// Label set of a forwarder drop.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why: one of [`DROP_REASONS`].
    pub reason: String,
}

/// Label set of what a round-robin proxy sends to every slave.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// One of [`BROADCAST_KINDS`].
    pub kind: String,
}

/// Every label of [`RelayMetrics::broadcast_records`].
pub const BROADCAST_KINDS: [&str; 3] = ["template", "options_template", "options_data"];

/// Every label of [`RelayMetrics::malformed`]: the [`DecodeError`](crate::error::DecodeError)
/// kinds a splitter reports.
pub const MALFORMED_REASONS: [&str; 4] = ["truncated", "bad_length", "bad_set_length", "reserved_set_id"];

/// Why a forwarder drops a datagram.
pub mod reason {
    /// Longer than a frame can carry (or cut by the receive buffer).
    pub const OVERSIZED: &str = "oversized_datagram";
    /// The sender's address family is neither IPv4 nor IPv6.
    pub const UNKNOWN_FAMILY: &str = "unknown_address_family";
    /// A new exporter while `max_exporters` are already assigned.
    pub const TOO_MANY_EXPORTERS: &str = "too_many_exporters";
    /// The send buffer was full (non-blocking send).
    pub const SEND_BUFFER_FULL: &str = "send_buffer_full";
    /// Any other send error.
    pub const SEND_ERROR: &str = "send_error";
}

/// Every label of [`RelayMetrics::datagrams_dropped`].
pub const DROP_REASONS: [&str; 5] = [
    reason::OVERSIZED,
    reason::UNKNOWN_FAMILY,
    reason::TOO_MANY_EXPORTERS,
    reason::SEND_BUFFER_FULL,
    reason::SEND_ERROR,
];

/// Every forwarder counter.
#[derive(Debug, Default)]
pub struct RelayMetrics {
    /// Datagrams forwarded, per slave.
    pub datagrams_forwarded: Family<SlaveLabel, Counter>,
    /// Bytes sent, frame headers included, per slave.
    pub bytes_forwarded: Family<SlaveLabel, Counter>,
    /// Sends that failed, per slave (each one is also a drop).
    pub send_errors: Family<SlaveLabel, Counter>,
    /// Exporters assigned, per slave.
    pub exporters_assigned: Family<SlaveLabel, Gauge>,
    /// Datagrams not forwarded, per reason.
    pub datagrams_dropped: Family<ReasonLabel, Counter>,
    /// Datagrams the kernel dropped on a forwarder listener because its buffer was full.
    pub socket_drops: Family<ListenerLabel, Gauge>,
    /// Synthetic datagrams carrying an exporter's cached templates, options templates and
    /// options data, sent to a slave the exporter moved to, per slave (not in
    /// `datagrams_forwarded`).
    pub template_replay_datagrams: Family<SlaveLabel, Counter>,
    /// Synthetic template datagrams that could not be sent, per slave (the replay is tried
    /// again before the exporter's next datagram).
    pub template_replay_errors: Family<SlaveLabel, Counter>,
    /// Bytes held by the template caches of all forwarding threads.
    pub template_cache_bytes: Gauge,
    /// Template, options-template and options data records not cached, per reason (one of
    /// [`template_cache::DROP_REASONS`](super::template_cache::DROP_REASONS)).
    pub template_cache_dropped: Family<ReasonLabel, Counter>,
    /// Round-robin model: flow records sent to each slave.
    pub records_distributed: Family<SlaveLabel, Counter>,
    /// Round-robin model: template, options-template and options data records sent to every
    /// slave, counted once per record received, per kind (one of [`BROADCAST_KINDS`]).
    pub broadcast_records: Family<KindLabel, Counter>,
    /// Round-robin model: data sets of templates the proxy did not know, sent whole to one slave.
    pub unknown_template_sets: Counter,
    /// Round-robin model: datagrams that are not v5, v9 or IPFIX (sFlow, ...), sent unchanged
    /// to one slave in turn.
    pub passed_through: Counter,
    /// Round-robin model: malformed input not forwarded, per reason (one of
    /// [`MALFORMED_REASONS`]): whole datagrams, or the rest of a data set after a broken
    /// variable-length record.
    pub malformed: Family<ReasonLabel, Counter>,
    /// Round-robin model: gaps in exporters' own sequence numbers seen by the proxy (flows,
    /// packets or records; passed on to one slave's sequence).
    pub sequence_missing: Counter,
}

/// The counters of one slave, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct SlaveCounters {
    pub datagrams: Counter,
    pub bytes: Counter,
    pub send_errors: Counter,
    pub replayed: Counter,
    pub replay_errors: Counter,
}

impl RelayMetrics {
    /// Sets `flowfold_relay_socket_drops` of the listener bound to `local` to the kernel's drop
    /// count of its socket (nothing when the address or the count is unknown).
    pub(crate) fn publish_socket_drops(&self, local: Option<std::net::SocketAddr>) {
        if let Some(addr) = local
            && let Some(drops) = crate::listener::kernel_drops(addr.port())
        {
            let label = ListenerLabel {
                listener: addr.to_string(),
            };
            self.socket_drops
                .get_or_create(&label)
                .set(i64::try_from(drops).unwrap_or(i64::MAX));
        }
    }

    /// A fresh set of counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers every counter under the `flowfold_relay` prefix.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let m = self.as_ref();
        registry.register(
            "flowfold_relay_datagrams_forwarded",
            "Datagrams forwarded to a slave",
            m.datagrams_forwarded.clone(),
        );
        registry.register(
            "flowfold_relay_bytes_forwarded",
            "Bytes forwarded to a slave, frame headers included",
            m.bytes_forwarded.clone(),
        );
        registry.register(
            "flowfold_relay_send_errors",
            "Failed sends to a slave",
            m.send_errors.clone(),
        );
        registry.register(
            "flowfold_relay_exporters_assigned",
            "Exporters assigned to a slave",
            m.exporters_assigned.clone(),
        );
        registry.register(
            "flowfold_relay_datagrams_dropped",
            "Datagrams not forwarded, by reason",
            m.datagrams_dropped.clone(),
        );
        registry.register(
            "flowfold_relay_socket_drops",
            "Datagrams dropped by the kernel on a forwarder listener",
            m.socket_drops.clone(),
        );
        registry.register(
            "flowfold_relay_template_replay_datagrams",
            "Synthetic datagrams carrying cached templates sent to a slave an exporter moved to",
            m.template_replay_datagrams.clone(),
        );
        registry.register(
            "flowfold_relay_template_replay_errors",
            "Synthetic template datagrams that could not be sent to a slave",
            m.template_replay_errors.clone(),
        );
        registry.register(
            "flowfold_relay_template_cache_bytes",
            "Bytes held by the forwarder's template caches",
            m.template_cache_bytes.clone(),
        );
        registry.register(
            "flowfold_relay_records_distributed",
            "Flow records sent to a slave (round-robin model)",
            m.records_distributed.clone(),
        );
        registry.register(
            "flowfold_relay_broadcast_records",
            "Template, options template and options data records sent to every slave (round-robin model)",
            m.broadcast_records.clone(),
        );
        registry.register(
            "flowfold_relay_unknown_template_sets",
            "Data sets of templates the proxy did not know, sent whole to one slave (round-robin model)",
            m.unknown_template_sets.clone(),
        );
        registry.register(
            "flowfold_relay_passed_through",
            "Datagrams not v5, v9 or IPFIX sent unchanged to one slave (round-robin model)",
            m.passed_through.clone(),
        );
        registry.register(
            "flowfold_relay_malformed",
            "Malformed datagrams or data set rests not forwarded, by reason (round-robin model)",
            m.malformed.clone(),
        );
        registry.register(
            "flowfold_relay_sequence_missing",
            "Units missing in exporters' sequence numbers as seen by the proxy (round-robin model)",
            m.sequence_missing.clone(),
        );
        registry.register(
            "flowfold_relay_template_cache_dropped",
            "Template and options records not cached, by reason",
            m.template_cache_dropped.clone(),
        );
    }

    /// The counter of template cache drops for `reason`.
    pub fn template_cache_dropped(&self, reason: &str) -> Counter {
        self.template_cache_dropped
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .clone()
    }

    /// The counter of malformed input for `reason`.
    pub fn malformed(&self, reason: &str) -> Counter {
        self.malformed
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .clone()
    }

    /// The counter of records of `kind` sent to every slave.
    pub fn broadcast(&self, kind: &str) -> Counter {
        self.broadcast_records
            .get_or_create(&KindLabel { kind: kind.to_string() })
            .clone()
    }

    /// The counter of flow records sent to `relay`.
    pub fn records_to(&self, relay: std::net::SocketAddr) -> Counter {
        self.records_distributed
            .get_or_create(&SlaveLabel {
                slave: relay.to_string(),
            })
            .clone()
    }

    /// The counter of drops for `reason`.
    pub fn dropped(&self, reason: &str) -> Counter {
        self.datagrams_dropped
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .clone()
    }

    pub(crate) fn slave(&self, relay: std::net::SocketAddr) -> SlaveCounters {
        let label = SlaveLabel {
            slave: relay.to_string(),
        };
        SlaveCounters {
            datagrams: self.datagrams_forwarded.get_or_create(&label).clone(),
            bytes: self.bytes_forwarded.get_or_create(&label).clone(),
            send_errors: self.send_errors.get_or_create(&label).clone(),
            replayed: self.template_replay_datagrams.get_or_create(&label).clone(),
            replay_errors: self.template_replay_errors.get_or_create(&label).clone(),
        }
    }

    /// Sets the per-slave exporter gauges from `load` (exporters per slave index).
    pub(crate) fn set_load(&self, slaves: &[std::net::SocketAddr], load: &[usize]) {
        for (relay, n) in slaves.iter().zip(load) {
            let label = SlaveLabel {
                slave: relay.to_string(),
            };
            self.exporters_assigned
                .get_or_create(&label)
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::render;

    #[test]
    fn forwarder_counters_appear_with_their_labels() {
        let metrics = RelayMetrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let relay = "127.0.0.1:32055".parse().unwrap();
        let slave = metrics.slave(relay);
        slave.datagrams.inc_by(2);
        slave.bytes.inc_by(144);
        slave.replayed.inc();
        metrics.template_cache_dropped("cache_bytes").inc_by(4);
        metrics.template_cache_bytes.set(640);
        metrics.dropped(reason::TOO_MANY_EXPORTERS).inc();
        metrics.set_load(&[relay], &[3]);
        metrics.records_to(relay).inc_by(7);
        metrics.broadcast("options_data").inc();
        metrics.malformed("bad_set_length").inc_by(2);
        metrics.unknown_template_sets.inc();
        let text = render(&registry);
        for line in [
            "flowfold_relay_datagrams_forwarded_total{slave=\"127.0.0.1:32055\"} 2",
            "flowfold_relay_bytes_forwarded_total{slave=\"127.0.0.1:32055\"} 144",
            "flowfold_relay_exporters_assigned{slave=\"127.0.0.1:32055\"} 3",
            "flowfold_relay_datagrams_dropped_total{reason=\"too_many_exporters\"} 1",
            "flowfold_relay_template_replay_datagrams_total{slave=\"127.0.0.1:32055\"} 1",
            "flowfold_relay_template_replay_errors_total{slave=\"127.0.0.1:32055\"} 0",
            "flowfold_relay_template_cache_dropped_total{reason=\"cache_bytes\"} 4",
            "flowfold_relay_template_cache_bytes 640",
            "flowfold_relay_records_distributed_total{slave=\"127.0.0.1:32055\"} 7",
            "flowfold_relay_broadcast_records_total{kind=\"options_data\"} 1",
            "flowfold_relay_malformed_total{reason=\"bad_set_length\"} 2",
            "flowfold_relay_unknown_template_sets_total 1",
            "flowfold_relay_passed_through_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
