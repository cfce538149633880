//! Ingest counters, exported in the Prometheus text format.
//!
//! Names follow `flowfold_<noun>_<verb>_total`. Per-exporter counters are looked up once per
//! exporter and kept by the receive loop, so counting costs an atomic add, not a label hash.

use std::net::IpAddr;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label set naming one exporter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExporterLabel {
    /// The exporter (flow source) address as text.
    pub exporter: String,
}

/// Label set of a decode error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecodeErrorLabels {
    /// The exporter address as text.
    pub exporter: String,
    /// The error kind (`DecodeError::kind`).
    pub kind: String,
}

/// Label set of a drop: the pipeline stage and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// Where the flows were lost: `socket`, `relay` (datagrams on a relay listener that are not
    /// relay frames), `decode`, `store_queue`, `store`.
    pub stage: String,
    /// Why.
    pub reason: String,
}

/// Label set naming a listener.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// The bound address of the listener.
    pub listener: String,
}

/// Every ingest counter.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    /// Datagrams received, per exporter.
    pub datagrams_received: Family<ExporterLabel, Counter>,
    /// Flows decoded, per exporter.
    pub flows_decoded: Family<ExporterLabel, Counter>,
    /// Flows written to the channel's write-ahead log, per exporter.
    pub flows_stored: Family<ExporterLabel, Counter>,
    /// Template and options-template records received, per exporter.
    pub templates_received: Family<ExporterLabel, Counter>,
    /// Flows missing according to the exporter's sequence numbers.
    pub sequence_missing: Family<ExporterLabel, Counter>,
    /// Data sets held because their template had not arrived yet.
    pub sets_held: Family<ExporterLabel, Counter>,
    /// Datagrams with a decode error, per exporter and kind.
    pub decode_errors: Family<DecodeErrorLabels, Counter>,
    /// Flows (or datagrams, for the socket and relay stages) lost, per stage and reason.
    pub flows_dropped: Family<DropLabels, Counter>,
    /// Datagrams the kernel dropped because the socket buffer was full, per listener.
    pub socket_drops: Family<ListenerLabel, Gauge>,
    /// Parquet windows sealed.
    pub windows_sealed: Counter,
    /// Rollups that could not be written (their windows are then read from their flows).
    pub rollup_errors: Counter,
    /// Flows with an implausible `flow_start`, filed in the window of their arrival.
    pub flows_misfiled: Counter,
}

/// Counters of one exporter, resolved once.
#[derive(Debug, Clone)]
pub struct ExporterCounters {
    /// See [`IngestMetrics::datagrams_received`].
    pub datagrams: Counter,
    /// See [`IngestMetrics::flows_decoded`].
    pub flows: Counter,
    /// See [`IngestMetrics::templates_received`].
    pub templates: Counter,
    /// See [`IngestMetrics::sequence_missing`].
    pub missing: Counter,
    /// See [`IngestMetrics::sets_held`].
    pub held: Counter,
}

impl IngestMetrics {
    /// A fresh set of counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The counters of `exporter`, to keep and bump without further lookups.
    pub fn exporter(&self, exporter: IpAddr) -> ExporterCounters {
        let label = ExporterLabel {
            exporter: exporter.to_string(),
        };
        ExporterCounters {
            datagrams: self.datagrams_received.get_or_create(&label).clone(),
            flows: self.flows_decoded.get_or_create(&label).clone(),
            templates: self.templates_received.get_or_create(&label).clone(),
            missing: self.sequence_missing.get_or_create(&label).clone(),
            held: self.sets_held.get_or_create(&label).clone(),
        }
    }

    /// Counts `n` lost flows at `stage` for `reason`.
    pub fn dropped(&self, stage: &str, reason: &str, n: u64) {
        let labels = DropLabels {
            stage: stage.to_string(),
            reason: reason.to_string(),
        };
        self.flows_dropped.get_or_create(&labels).inc_by(n);
    }

    /// Counts one decode error of `kind` from `exporter`.
    pub fn decode_error(&self, exporter: IpAddr, kind: &str) {
        let labels = DecodeErrorLabels {
            exporter: exporter.to_string(),
            kind: kind.to_string(),
        };
        self.decode_errors.get_or_create(&labels).inc();
    }

    /// Registers every counter under the `flowfold` prefix.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        let m = self.as_ref();
        registry.register(
            "flowfold_datagrams_received",
            "Datagrams received per exporter",
            m.datagrams_received.clone(),
        );
        registry.register(
            "flowfold_flows_decoded",
            "Flows decoded per exporter",
            m.flows_decoded.clone(),
        );
        registry.register(
            "flowfold_flows_stored",
            "Flows written to the write-ahead log per exporter",
            m.flows_stored.clone(),
        );
        registry.register(
            "flowfold_templates_received",
            "Template records received per exporter",
            m.templates_received.clone(),
        );
        registry.register(
            "flowfold_sequence_missing",
            "Flows or packets missing by sequence number per exporter",
            m.sequence_missing.clone(),
        );
        registry.register(
            "flowfold_sets_held",
            "Data sets held until their template arrives",
            m.sets_held.clone(),
        );
        registry.register(
            "flowfold_decode_errors",
            "Datagrams with a decode error, by exporter and kind",
            m.decode_errors.clone(),
        );
        registry.register(
            "flowfold_flows_dropped",
            "Flows lost, by stage and reason",
            m.flows_dropped.clone(),
        );
        registry.register(
            "flowfold_socket_drops",
            "Datagrams dropped by the kernel for a full receive buffer",
            m.socket_drops.clone(),
        );
        registry.register(
            "flowfold_windows_sealed",
            "Windows sealed into Parquet",
            m.windows_sealed.clone(),
        );
        registry.register(
            "flowfold_rollup_errors",
            "Rollups that could not be written beside a sealed window (the window is read from its flows)",
            m.rollup_errors.clone(),
        );
    }
}

/// Renders a registry in the Prometheus text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    prometheus_client::encoding::text::encode(&mut out, registry).expect("encode into String");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_text_format_with_labels() {
        let metrics = IngestMetrics::new();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let c = metrics.exporter("192.0.2.1".parse().unwrap());
        c.datagrams.inc_by(3);
        metrics.dropped("store_queue", "full", 7);
        let text = render(&registry);
        assert!(
            text.contains("flowfold_datagrams_received_total{exporter=\"192.0.2.1\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("flowfold_flows_dropped_total{stage=\"store_queue\",reason=\"full\"} 7"),
            "{text}"
        );
    }
}
