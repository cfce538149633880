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
//!
//! **Changing the slaves** ([`SpreaderSlaves::set`], when the proxy follows its master's
//! topology): each thread picks the new list up before its next batch. A kept slave keeps its
//! sequence counters; an added one first gets every template, options template and options
//! record of every exporter the thread has seen (the thread's [`TemplateCache`], which follows
//! every datagram), numbered so its decoder sees no gap, then its turn of the records; a
//! removed one gets nothing more. No datagram is lost in the change.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::frame::MAX_RELAY_PAYLOAD;
use super::metrics::{BROADCAST_KINDS, MALFORMED_REASONS, RelayMetrics, SlaveCounters, reason};
use super::sender::{BatchSender, Outgoing};
use super::split::{Outputs, SplitReport, Splitter, SplitterConfig};
use super::template_cache::{Replay, TemplateCache, TemplateCacheConfig};
use super::threads::{ListenerThreads, Sockets};
use crate::error::{IngestError, SplitError};
use crate::listener::BatchReceiver;

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
    /// Bounds of each thread's template cache (what an added slave is given first).
    pub template_cache: TemplateCacheConfig,
}

impl SpreaderConfig {
    /// Defaults: 8 MiB receive and send buffers, 100 ms poll interval, the default
    /// [`SplitterConfig`] and [`TemplateCacheConfig`].
    pub fn new(listeners: Vec<SocketAddr>, slaves: Vec<SocketAddr>) -> Self {
        Self {
            listeners,
            slaves,
            recv_buffer: 8 << 20,
            send_buffer: 8 << 20,
            poll_interval: Duration::from_millis(100),
            splitter: SplitterConfig::default(),
            template_cache: TemplateCacheConfig::default(),
        }
    }
}

/// A running round-robin distribution.
#[derive(Debug)]
pub struct Spreader {
    bound: Vec<SocketAddr>,
    slaves: SpreaderSlaves,
    threads: ListenerThreads,
    seen: SeenExporters,
}

/// The slaves a spreader spreads over now, shared with its threads; a handle changes them.
#[derive(Debug, Clone)]
pub struct SpreaderSlaves(Arc<SlaveList>);

#[derive(Debug)]
struct SlaveList {
    slaves: Mutex<Vec<SocketAddr>>,
    /// Bumped by every change; a thread compares it with the one it applied, once per batch.
    generation: std::sync::atomic::AtomicU64,
    /// Some slave was IPv6 at start: the sending sockets are dual-stack.
    any_v6: bool,
}

impl SpreaderSlaves {
    fn new(slaves: &[SocketAddr]) -> Self {
        Self(Arc::new(SlaveList {
            slaves: Mutex::new(slaves.to_vec()),
            generation: std::sync::atomic::AtomicU64::new(0),
            any_v6: slaves.iter().any(|s| s.ip().to_canonical().is_ipv6()),
        }))
    }

    /// The slaves' relay addresses now, by position.
    pub fn list(&self) -> Vec<SocketAddr> {
        self.0.slaves.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Spreads over `slaves` from each thread's next batch on; returns `false` when they are
    /// the slaves already. Refused: no slave, a slave twice, or an IPv6 slave when every slave
    /// was IPv4 at start (the sending sockets are IPv4).
    pub fn set(&self, slaves: &[SocketAddr]) -> Result<bool, IngestError> {
        let refuse = |reason: String| IngestError::RelayConfig {
            setting: "slaves",
            reason,
        };
        if slaves.is_empty() {
            return Err(refuse("a round-robin proxy needs at least one slave".into()));
        }
        if slaves.iter().collect::<BTreeSet<_>>().len() != slaves.len() {
            return Err(refuse(format!("a slave is listed twice: {slaves:?}")));
        }
        if let Some(v6) = slaves
            .iter()
            .find(|s| !self.0.any_v6 && s.ip().to_canonical().is_ipv6())
        {
            return Err(refuse(format!(
                "IPv6 slave {v6} added to a proxy whose slaves were all IPv4 at start: restart it"
            )));
        }
        let mut now = self.0.slaves.lock().unwrap_or_else(|p| p.into_inner());
        if now.as_slice() == slaves {
            return Ok(false);
        }
        *now = slaves.to_vec();
        self.0.generation.fetch_add(1, Ordering::Release);
        Ok(true)
    }

    fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }
}

/// The exporters whose datagrams the threads have split, shared by them (each thread adds an
/// exporter once; it keeps its own set so the steady state takes no lock).
#[derive(Debug, Clone, Default)]
pub struct SeenExporters(Arc<Mutex<BTreeSet<IpAddr>>>);

impl SeenExporters {
    /// The exporters seen so far.
    pub fn list(&self) -> BTreeSet<IpAddr> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn insert(&self, exporter: IpAddr) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(exporter);
    }
}

impl Spreader {
    /// Binds every listener and starts one thread per listener.
    pub fn start(config: SpreaderConfig, metrics: Arc<RelayMetrics>) -> Result<Self, IngestError> {
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
        let sockets = Sockets {
            listeners: &config.listeners,
            recv_buffer: config.recv_buffer,
            poll_interval: config.poll_interval,
            slaves: &config.slaves,
            send_buffer: config.send_buffer,
        };
        let (pairs, bound) = sockets.bind("round-robin proxy")?;
        let mut threads = ListenerThreads::new();
        let seen = SeenExporters::default();
        let slaves = SpreaderSlaves::new(&config.slaves);
        for ((rx, tx), addr) in pairs.into_iter().zip(&bound) {
            let worker = Worker::new(rx, tx, &config, Arc::clone(&metrics), seen.clone(), slaves.clone());
            threads = threads.spawn(format!("flowfold-rr-{}", addr.port()), move |stop| worker.run(stop))?;
        }
        let spreader = Self {
            bound,
            slaves,
            threads,
            seen,
        };
        tracing::info!(listeners = ?spreader.bound, slaves = ?config.slaves, "round-robin distribution started");
        Ok(spreader)
    }

    /// The addresses the listeners are bound to, in the order configured.
    pub fn bound(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// The slaves it spreads over: their relay addresses now, and the handle that changes them.
    pub fn slaves(&self) -> SpreaderSlaves {
        self.slaves.clone()
    }

    /// The exporters whose export it has split so far, now and later (the proxy reports them
    /// to its master).
    pub fn seen(&self) -> SeenExporters {
        self.seen.clone()
    }

    /// Stops every thread (within one poll interval).
    pub fn shutdown(self) -> Result<(), IngestError> {
        let result = self.threads.stop();
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
        let (per_slave, records) = Self::per_slave(metrics, slaves);
        Self {
            slaves: per_slave,
            records,
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

    /// Each slave's counters and records counter, by position.
    fn per_slave(metrics: &RelayMetrics, slaves: &[SocketAddr]) -> (Vec<SlaveCounters>, Vec<Counter>) {
        (
            slaves.iter().map(|s| metrics.slave(*s)).collect(),
            slaves.iter().map(|s| metrics.records_to(*s)).collect(),
        )
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
    /// The exporters this thread has added to `seen`.
    seen_here: HashSet<IpAddr>,
    seen: SeenExporters,
    /// The slaves, as changed by [`SpreaderSlaves::set`].
    slaves: SpreaderSlaves,
    /// The change applied last.
    generation: u64,
    /// The sender's targets (an index stays the same slave; removed ones stay listed).
    targets: Vec<SocketAddr>,
    /// The splitter's slave positions: each one's index in `targets`.
    active: Vec<usize>,
    /// Every template and options record seen, for slaves added later.
    templates: TemplateCache,
    /// Synthetic template datagrams for added slaves (reused; also the cache's scratch).
    replay: Replay,
}

impl Worker {
    fn new(
        rx: BatchReceiver,
        tx: BatchSender,
        config: &SpreaderConfig,
        metrics: Arc<RelayMetrics>,
        seen: SeenExporters,
        slaves: SpreaderSlaves,
    ) -> Self {
        let counters = Counters::new(&metrics, &config.slaves);
        let generation = slaves.generation();
        Self {
            rx,
            tx,
            splitter: Splitter::new(config.slaves.len(), config.splitter),
            outputs: Outputs::new(),
            metrics,
            counters,
            seen_here: HashSet::new(),
            seen,
            slaves,
            generation,
            targets: config.slaves.clone(),
            active: (0..config.slaves.len()).collect(),
            templates: TemplateCache::new(config.template_cache),
            replay: Replay::default(),
        }
    }

    /// Takes up the slaves' latest change, if any: the splitter spreads over the new list
    /// and every added slave is sent the templates cached so far. Returns a send error.
    fn follow_slaves(&mut self) -> Option<io::Error> {
        let generation = self.slaves.generation();
        if generation == self.generation {
            return None;
        }
        self.generation = generation;
        let wanted = self.slaves.list();
        let mut active = Vec::with_capacity(wanted.len());
        for slave in &wanted {
            let target = match self.targets.iter().position(|t| t == slave) {
                Some(t) => t,
                None => {
                    if let Err(e) = self.tx.add_target(*slave) {
                        tracing::error!(%slave, error = %e, "slave not added");
                        continue;
                    }
                    self.targets.push(*slave);
                    self.targets.len() - 1
                }
            };
            active.push(target);
        }
        if active.is_empty() {
            return None;
        }
        let mapping: Vec<Option<usize>> = active
            .iter()
            .map(|t| self.active.iter().position(|old| old == t))
            .collect();
        self.splitter.set_slaves(&mapping);
        let addresses: Vec<SocketAddr> = active.iter().map(|t| self.targets[*t]).collect();
        (self.counters.slaves, self.counters.records) = Counters::per_slave(&self.metrics, &addresses);
        self.active = active;
        self.replay.clear();
        for (position, _) in mapping.iter().enumerate().filter(|(_, old)| old.is_none()) {
            for exporter in &self.seen_here {
                self.templates.replay(*exporter, position, &mut self.replay);
            }
        }
        tracing::info!(slaves = ?addresses, replayed = self.replay.len(), "round-robin slaves changed");
        let (active, counters) = (&self.active, &self.counters);
        let mut last_error = None;
        self.tx.send(
            self.replay.iter().enumerate().map(|(tag, (d, payload))| Outgoing {
                tag,
                target: active.get(d.slave).copied().unwrap_or(usize::MAX),
                source: d.source,
                payload,
            }),
            |_, target, result| {
                let slave = active.iter().position(|t| *t == target);
                match (result, slave.and_then(|s| counters.slaves.get(s))) {
                    (Ok(_), Some(s)) => {
                        s.replayed.inc();
                    }
                    (Err(e), s) => {
                        if let Some(s) = s {
                            s.replay_errors.inc();
                        }
                        last_error = Some(e);
                    }
                    (Ok(_), None) => {}
                }
            },
        );
        self.replay.clear();
        last_error
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
            let changed = self.follow_slaves();
            if let Some(e) = changed {
                tracing::warn!(listener = ?local, error = %e, "replaying templates to an added slave failed");
            }
            if n > 0
                && let Some(e) = self.spread(n)
                && last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
            {
                last_error_log = Some(Instant::now());
                tracing::warn!(listener = ?local, error = %e, "sending to slaves fails (logged at most every 10 s)");
            }
            if last_drop_read.elapsed() >= Duration::from_secs(1) {
                last_drop_read = Instant::now();
                self.metrics.publish_socket_drops(local);
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
            seen_here,
            seen,
            templates,
            replay,
            active,
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
            // Slave 0 throughout: the cache only keeps the records (nothing is replayed here).
            templates.forward(d.source, 0, d.payload, replay);
            match splitter.split(d.source, d.payload, outputs) {
                Ok(report) => {
                    counters.split(&report);
                    // Bounded: the splitter refuses exporters past its domain limit.
                    if seen_here.insert(d.source.ip()) {
                        seen.insert(d.source.ip());
                    }
                }
                Err(SplitError::TooManyDomains { .. }) => {
                    counters.too_many_exporters.inc();
                }
                Err(e) => counters.malformed(e.kind()),
            }
        }
        replay.clear();
        let outputs = &*outputs;
        let counters = &*counters;
        let active = &*active;
        let mut last_error = None;
        tx.send(
            outputs.iter().enumerate().map(|(tag, (o, payload))| Outgoing {
                tag,
                target: active.get(o.slave).copied().unwrap_or(usize::MAX),
                source: o.source,
                payload,
            }),
            |tag, target, result| match (result, active.iter().position(|t| *t == target)) {
                (result, None) => {
                    if let Err(e) = result {
                        last_error = Some(e);
                    }
                }
                (Ok(bytes), Some(slave)) => {
                    if let Some(s) = counters.slaves.get(slave) {
                        s.datagrams.inc();
                        s.bytes.inc_by(bytes as u64);
                    }
                    if let (Some(c), Some((o, _))) = (counters.records.get(slave), outputs.get(tag)) {
                        c.inc_by(u64::from(o.flows));
                    }
                }
                (Err(e), Some(slave)) => {
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

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::super::test_packets::{SMALL_V4, set, template, v9};
    use super::*;

    #[test]
    fn the_exporters_it_split_are_listed_once_each() {
        let slave = UdpSocket::bind("127.0.0.1:0").unwrap();
        let config = SpreaderConfig::new(vec!["127.0.0.1:0".parse().unwrap()], vec![slave.local_addr().unwrap()]);
        let spreader = Spreader::start(config, RelayMetrics::new()).unwrap();
        let to = spreader.bound()[0];
        let exporters: Vec<UdpSocket> = ["127.0.0.1:0", "127.0.0.2:0"]
            .iter()
            .map(|a| UdpSocket::bind(a).unwrap())
            .collect();
        let datagram = v9(1, 0, &[set(0, &template(256, &SMALL_V4))]);
        for round in 0..3 {
            for exporter in &exporters {
                exporter.send_to(&datagram, to).unwrap();
            }
            if round == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let want: BTreeSet<IpAddr> = exporters.iter().map(|e| e.local_addr().unwrap().ip()).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while spreader.seen().list() != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(spreader.seen().list(), want);
        spreader.shutdown().unwrap();
    }
}
