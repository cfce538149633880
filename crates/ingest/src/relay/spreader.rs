//! The proxy side of the round-robin model: receive export datagrams, split each into one
//! datagram per slave ([`Splitter`]) and send them inside relay frames that keep the exporter's
//! address.
//!
//! One thread per listener, each with its own [`Splitter`], output arenas and sending socket:
//! `recvmmsg` into fixed buffers, the split (one copy of each record into its slave's arena),
//! then one `sendmmsg` pass ([`BatchSender`]) over every slave's datagrams of the receive batch.
//! The steady state takes no lock and allocates nothing.
//!
//! There are no assignments: every exporter is on every slave, so nothing can be rebalanced.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::frame::MAX_RELAY_PAYLOAD;
use super::metrics::{BROADCAST_KINDS, MALFORMED_REASONS, RelayMetrics, SlaveCounters, reason};
use super::sender::{BatchSender, Outgoing};
use super::split::{Outputs, SplitReport, Splitter, SplitterConfig};
use crate::error::{IngestError, SplitError};
use crate::listener::{BatchReceiver, bind_flow_socket, kernel_drops};
use crate::metrics::ListenerLabel;

/// How a spreader runs.
#[derive(Debug, Clone)]
pub struct SpreaderConfig {
    /// UDP addresses exporters send to (port 0 picks a free port).
    pub listeners: Vec<SocketAddr>,
    /// The slaves' relay listeners (by convention their flow port + 30000), by index.
    pub slaves: Vec<SocketAddr>,
    /// Receive buffer asked for on every listener.
    pub recv_buffer: usize,
    /// Send buffer asked for on every sending socket.
    pub send_buffer: usize,
    /// How long a thread waits for datagrams before it checks for shutdown.
    pub poll_interval: Duration,
    /// Bounds of each thread's splitter.
    pub splitter: SplitterConfig,
}

impl SpreaderConfig {
    /// Defaults: 8 MiB receive and send buffers, 100 ms poll interval, the default
    /// [`SplitterConfig`].
    pub fn new(listeners: Vec<SocketAddr>, slaves: Vec<SocketAddr>) -> Self {
        Self {
            listeners,
            slaves,
            recv_buffer: 8 << 20,
            send_buffer: 8 << 20,
            poll_interval: Duration::from_millis(100),
            splitter: SplitterConfig::default(),
        }
    }
}

/// A running round-robin distribution.
#[derive(Debug)]
pub struct Spreader {
    bound: Vec<SocketAddr>,
    slaves: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Spreader {
    /// Binds every listener and starts one thread per listener.
    pub fn start(config: SpreaderConfig, metrics: Arc<RelayMetrics>) -> Result<Self, IngestError> {
        if config.listeners.is_empty() {
            return Err(IngestError::RelayConfig {
                setting: "listeners",
                reason: "a round-robin proxy needs at least one listener".into(),
            });
        }
        if config.slaves.is_empty() {
            return Err(IngestError::RelayConfig {
                setting: "slaves",
                reason: "a round-robin proxy needs at least one slave".into(),
            });
        }
        for r in super::metrics::DROP_REASONS {
            metrics.dropped(r);
        }
        for r in MALFORMED_REASONS {
            metrics.malformed(r);
        }
        for k in BROADCAST_KINDS {
            metrics.broadcast(k);
        }
        let mut pairs = Vec::with_capacity(config.listeners.len());
        for addr in &config.listeners {
            let (socket, granted) = bind_flow_socket(*addr, config.recv_buffer, config.poll_interval)?;
            if granted < config.recv_buffer {
                tracing::warn!(%addr, granted, wanted = config.recv_buffer, "smaller receive buffer than asked");
            }
            let rx = BatchReceiver::new(socket);
            let tx = BatchSender::new(&config.slaves, config.send_buffer)?;
            pairs.push((rx, tx));
        }
        let bound = pairs
            .iter()
            .map(|(rx, _)| rx.local_addr())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| IngestError::Io {
                op: "spreader listener address",
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut spreader = Self {
            bound,
            slaves: config.slaves.clone(),
            stop,
            threads: Vec::with_capacity(pairs.len()),
        };
        for ((rx, tx), addr) in pairs.into_iter().zip(spreader.bound.clone()) {
            let worker = Worker::new(rx, tx, &config, Arc::clone(&metrics));
            let stop = Arc::clone(&spreader.stop);
            let name = format!("flowfold-rr-{}", addr.port());
            match std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || worker.run(&stop))
            {
                Ok(handle) => spreader.threads.push(handle),
                Err(e) => {
                    let _ = spreader.shutdown();
                    return Err(IngestError::Thread {
                        name,
                        reason: e.to_string(),
                    });
                }
            }
        }
        tracing::info!(listeners = ?spreader.bound, slaves = ?spreader.slaves, "round-robin distribution started");
        Ok(spreader)
    }

    /// The addresses the listeners are bound to, in the order configured.
    pub fn bound(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// The slaves' relay addresses, by index.
    pub fn slaves(&self) -> &[SocketAddr] {
        &self.slaves
    }

    /// Stops every thread (within one poll interval).
    pub fn shutdown(self) -> Result<(), IngestError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut result = Ok(());
        for handle in self.threads {
            let name = handle.thread().name().unwrap_or("flowfold-rr").to_string();
            if handle.join().is_err() {
                result = Err(IngestError::Thread {
                    name,
                    reason: "panicked".into(),
                });
            }
        }
        tracing::info!("round-robin distribution stopped");
        result
    }
}

/// Counters of one thread, resolved once.
struct Counters {
    slaves: Vec<SlaveCounters>,
    records: Vec<Counter>,
    oversized: Counter,
    unknown_family: Counter,
    too_many_exporters: Counter,
    send_buffer_full: Counter,
    send_error: Counter,
    /// Per [`MALFORMED_REASONS`] entry.
    malformed: [Counter; 4],
    /// Per [`BROADCAST_KINDS`] entry.
    broadcast: [Counter; 3],
    unknown_sets: Counter,
    passed_through: Counter,
    sequence_missing: Counter,
}

impl Counters {
    fn new(metrics: &RelayMetrics, slaves: &[SocketAddr]) -> Self {
        Self {
            slaves: slaves.iter().map(|s| metrics.slave(*s)).collect(),
            records: slaves.iter().map(|s| metrics.records_to(*s)).collect(),
            oversized: metrics.dropped(reason::OVERSIZED),
            unknown_family: metrics.dropped(reason::UNKNOWN_FAMILY),
            too_many_exporters: metrics.dropped(reason::TOO_MANY_EXPORTERS),
            send_buffer_full: metrics.dropped(reason::SEND_BUFFER_FULL),
            send_error: metrics.dropped(reason::SEND_ERROR),
            malformed: MALFORMED_REASONS.map(|r| metrics.malformed(r)),
            broadcast: BROADCAST_KINDS.map(|k| metrics.broadcast(k)),
            unknown_sets: metrics.unknown_template_sets.clone(),
            passed_through: metrics.passed_through.clone(),
            sequence_missing: metrics.sequence_missing.clone(),
        }
    }

    fn malformed(&self, kind: &str) {
        if let Some(i) = MALFORMED_REASONS.iter().position(|r| *r == kind) {
            self.malformed[i].inc();
        }
    }

    fn split(&self, r: &SplitReport) {
        for (counter, n) in self
            .broadcast
            .iter()
            .zip([r.templates, r.options_templates, r.options_records])
        {
            if n > 0 {
                counter.inc_by(u64::from(n));
            }
        }
        if r.unknown_sets > 0 {
            self.unknown_sets.inc_by(u64::from(r.unknown_sets));
        }
        if r.passed_through {
            self.passed_through.inc();
        }
        if r.sequence_gap > 0 {
            self.sequence_missing.inc_by(r.sequence_gap);
        }
        if let Some(e) = &r.error {
            self.malformed(e.kind());
        }
    }
}

/// One listener's thread.
struct Worker {
    rx: BatchReceiver,
    tx: BatchSender,
    splitter: Splitter,
    outputs: Outputs,
    metrics: Arc<RelayMetrics>,
    counters: Counters,
}

impl Worker {
    fn new(rx: BatchReceiver, tx: BatchSender, config: &SpreaderConfig, metrics: Arc<RelayMetrics>) -> Self {
        let counters = Counters::new(&metrics, &config.slaves);
        Self {
            rx,
            tx,
            splitter: Splitter::new(config.slaves.len(), config.splitter),
            outputs: Outputs::new(),
            metrics,
            counters,
        }
    }

    fn run(mut self, stop: &AtomicBool) {
        let local = self.rx.local_addr().ok();
        let mut last_drop_read = Instant::now();
        let mut last_error_log: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            let n = match self.rx.receive() {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(listener = ?local, error = %e, "receive failed");
                    std::thread::sleep(Duration::from_millis(50));
                    0
                }
            };
            if n > 0
                && let Some(e) = self.spread(n)
                && last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
            {
                last_error_log = Some(Instant::now());
                tracing::warn!(listener = ?local, error = %e, "sending to slaves fails (logged at most every 10 s)");
            }
            if last_drop_read.elapsed() >= Duration::from_secs(1) {
                last_drop_read = Instant::now();
                if let Some(addr) = local
                    && let Some(drops) = kernel_drops(addr.port())
                {
                    let label = ListenerLabel {
                        listener: addr.to_string(),
                    };
                    self.metrics
                        .socket_drops
                        .get_or_create(&label)
                        .set(i64::try_from(drops).unwrap_or(i64::MAX));
                }
            }
        }
    }

    /// Splits the `n` datagrams just received and sends every slave its share; returns the
    /// last send error, if any.
    fn spread(&mut self, n: usize) -> Option<io::Error> {
        let Self {
            rx,
            tx,
            splitter,
            outputs,
            counters,
            ..
        } = self;
        outputs.clear();
        for index in 0..n {
            let Some(d) = rx.datagram(index) else {
                counters.unknown_family.inc();
                continue;
            };
            if d.truncated || d.payload.len() > MAX_RELAY_PAYLOAD {
                counters.oversized.inc();
                continue;
            }
            match splitter.split(d.source, d.payload, outputs) {
                Ok(report) => counters.split(&report),
                Err(SplitError::TooManyDomains { .. }) => {
                    counters.too_many_exporters.inc();
                }
                Err(e) => counters.malformed(e.kind()),
            }
        }
        let outputs = &*outputs;
        let counters = &*counters;
        let mut last_error = None;
        tx.send(
            outputs.iter().enumerate().map(|(tag, (o, payload))| Outgoing {
                tag,
                target: o.slave,
                source: o.source,
                payload,
            }),
            |tag, slave, result| match result {
                Ok(bytes) => {
                    if let Some(s) = counters.slaves.get(slave) {
                        s.datagrams.inc();
                        s.bytes.inc_by(bytes as u64);
                    }
                    if let (Some(c), Some((o, _))) = (counters.records.get(slave), outputs.get(tag)) {
                        c.inc_by(u64::from(o.flows));
                    }
                }
                Err(e) => {
                    if let Some(s) = counters.slaves.get(slave) {
                        s.send_errors.inc();
                    }
                    if e.kind() == io::ErrorKind::WouldBlock {
                        counters.send_buffer_full.inc();
                    } else {
                        counters.send_error.inc();
                    }
                    last_error = Some(e);
                }
            },
        );
        last_error
    }
}
