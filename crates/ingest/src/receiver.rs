//! The receive loop of one listener: receive a batch of datagrams, decode each into the builder
//! of its exporter, and ship full or aged builders to the writer without ever blocking on it.
//!
//! On a relay listener (a slave fed by a proxy) every datagram is a relay frame: the frame
//! names the exporter and borrows the export datagram, which is then handled exactly as if the
//! exporter had sent it here (same exporter key, templates and counters). A datagram that is not
//! a frame is dropped and counted as `flows_dropped{stage="relay", reason="bad_frame_*"}`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;

use crate::columns::FlowColumns;
use crate::decode::{Decoder, DecoderConfig};
use crate::listener::BatchReceiver;
use crate::metrics::{DropLabels, ExporterCounters, IngestMetrics, ListenerLabel};
use crate::relay::frame::{FrameError, decode_frame};
use crate::template_state;

/// What a receive loop needs besides its socket.
#[derive(Debug, Clone)]
pub struct ReceiverSettings {
    /// Flows per batch shipped to the writer.
    pub batch_rows: usize,
    /// Longest time a flow waits in a builder before it is shipped.
    pub flush_interval: Duration,
    /// Decoder limits.
    pub decoder: DecoderConfig,
    /// Template state file of this listener.
    pub template_file: PathBuf,
    /// `true` for a relay listener: datagrams are relay frames from a proxy.
    pub relayed: bool,
}

struct ExporterBuilder {
    builder: FlowColumns,
    counters: ExporterCounters,
    oldest: Option<Instant>,
}

/// Runs until `stop` is set, then ships what it holds and saves its templates.
pub fn run(
    mut rx: BatchReceiver,
    settings: ReceiverSettings,
    to_writer: SyncSender<RecordBatch>,
    metrics: Arc<IngestMetrics>,
    stop: Arc<AtomicBool>,
) {
    let local = rx.local_addr().ok();
    let mut decoder = Decoder::new(settings.decoder);
    match template_state::load(&mut decoder, &settings.template_file) {
        Ok(true) => tracing::info!(file = %settings.template_file.display(), "templates restored"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "saved templates ignored"),
    }
    let mut saved_generation = decoder.template_generation();
    let mut exporters: HashMap<IpAddr, ExporterBuilder> = HashMap::new();
    let mut last_sweep = Instant::now();
    let mut last_drop_read = Instant::now();
    let bad_frames = BadFrameCounters::new(&metrics, settings.relayed);
    let shipper = Shipper {
        to_writer,
        metrics: Arc::clone(&metrics),
    };

    while !stop.load(Ordering::Relaxed) {
        let n = match rx.receive() {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(listener = ?local, error = %e, "receive failed");
                std::thread::sleep(Duration::from_millis(50));
                0
            }
        };
        let now_ms = engine::clock::now_ms();
        for i in 0..n {
            let Some(datagram) = rx.datagram(i) else { continue };
            let (source, payload) = if settings.relayed {
                match decode_frame(datagram.payload) {
                    Ok(framed) => framed,
                    Err(e) => {
                        bad_frames.count(&e);
                        continue;
                    }
                }
            } else {
                (datagram.source, datagram.payload)
            };
            let exporter = canonical(source);
            let entry = exporters.entry(exporter).or_insert_with(|| ExporterBuilder {
                builder: FlowColumns::with_capacity(settings.batch_rows),
                counters: metrics.exporter(exporter),
                oldest: None,
            });
            entry.counters.datagrams.inc();
            if datagram.truncated {
                metrics.decode_error(exporter, "oversized_datagram");
                continue;
            }
            let report = decoder.decode(exporter, payload, now_ms, &mut entry.builder);
            // `flows` already counts the flows of held sets released by this datagram.
            let flows = u64::from(report.flows);
            entry.counters.flows.inc_by(flows);
            entry.counters.templates.inc_by(u64::from(report.templates));
            entry.counters.missing.inc_by(report.sequence_gap);
            entry.counters.held.inc_by(u64::from(report.held_sets));
            if report.dropped_held > 0 {
                metrics.dropped("decode", "held_sets_overflow", u64::from(report.dropped_held));
            }
            if let Some(error) = &report.error {
                metrics.decode_error(exporter, error.kind());
            }
            if entry.oldest.is_none() && !entry.builder.is_empty() {
                entry.oldest = Some(Instant::now());
            }
            if entry.builder.len() >= settings.batch_rows {
                shipper.ship(entry);
            }
        }
        // Kernel drop counts come from parsing /proc/net/udp: once a second is plenty.
        if last_drop_read.elapsed() >= Duration::from_secs(1) {
            last_drop_read = Instant::now();
            if let Some(addr) = local {
                publish_kernel_drops(&metrics, addr);
            }
        }
        if last_sweep.elapsed() >= settings.flush_interval / 2 {
            last_sweep = Instant::now();
            for entry in exporters.values_mut() {
                if entry.oldest.is_some_and(|t| t.elapsed() >= settings.flush_interval) {
                    shipper.ship(entry);
                }
            }
            if decoder.template_generation() != saved_generation {
                saved_generation = decoder.template_generation();
                if let Err(e) = template_state::save(&decoder, &settings.template_file) {
                    tracing::warn!(error = %e, "templates not saved");
                }
            }
        }
    }
    for entry in exporters.values_mut() {
        shipper.ship(entry);
    }
    if let Err(e) = template_state::save(&decoder, &settings.template_file) {
        tracing::warn!(error = %e, "templates not saved at shutdown");
    }
}

/// `flows_dropped{stage="relay"}` counters of each [`FrameError`] kind, resolved once (and
/// only on relay listeners, so plain nodes show no relay series).
struct BadFrameCounters {
    counters: Vec<prometheus_client::metrics::counter::Counter>,
}

impl BadFrameCounters {
    fn new(metrics: &IngestMetrics, relayed: bool) -> Self {
        let kinds: &[&str] = if relayed { &FrameError::KINDS } else { &[] };
        let counters = kinds
            .iter()
            .map(|kind| {
                let labels = DropLabels {
                    stage: "relay".to_string(),
                    reason: (*kind).to_string(),
                };
                metrics.flows_dropped.get_or_create(&labels).clone()
            })
            .collect();
        Self { counters }
    }

    fn count(&self, e: &FrameError) {
        if let Some(counter) = FrameError::KINDS
            .iter()
            .position(|k| *k == e.kind())
            .and_then(|i| self.counters.get(i))
        {
            counter.inc();
        }
    }
}

struct Shipper {
    to_writer: SyncSender<RecordBatch>,
    metrics: Arc<IngestMetrics>,
}

impl Shipper {
    /// Hands the exporter's flows to the writer; a full queue drops them, counted.
    fn ship(&self, entry: &mut ExporterBuilder) {
        entry.oldest = None;
        if entry.builder.is_empty() {
            return;
        }
        let batch = entry.builder.finish();
        let rows = batch.num_rows() as u64;
        match self.to_writer.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.metrics.dropped("store_queue", "full", rows),
            Err(TrySendError::Disconnected(_)) => self.metrics.dropped("store_queue", "writer_stopped", rows),
        }
    }
}

fn publish_kernel_drops(metrics: &IngestMetrics, addr: SocketAddr) {
    if let Some(drops) = crate::listener::kernel_drops(addr.port()) {
        let label = ListenerLabel {
            listener: addr.to_string(),
        };
        metrics
            .socket_drops
            .get_or_create(&label)
            .set(i64::try_from(drops).unwrap_or(i64::MAX));
    }
}

/// The exporter address: IPv4 senders seen on a dual-stack socket come back as IPv4.
pub(crate) fn canonical(source: SocketAddr) -> IpAddr {
    source.ip().to_canonical()
}
