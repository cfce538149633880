//! The proxy side of the flow-source model: receive export datagrams, pick each exporter's
//! slave ([`Assignments`]), and forward the datagram unchanged inside a relay frame.
//!
//! One thread per listener. Each keeps its own exporter -> slave cache (dropped when a
//! rebalance bumps the assignments' generation), its own [`TemplateCache`] and its own sending
//! socket, so the steady state takes no lock and allocates nothing: `recvmmsg` into fixed
//! buffers, a hash lookup per datagram (plus the template cache's header walk for v9 / IPFIX),
//! `sendmmsg` with the payload gathered straight from the receive buffer.
//!
//! When an exporter's datagram is routed to a slave that has not had its templates (the
//! exporter was rebalanced there), the thread sends that slave the exporter's cached
//! templates, options templates and options data first, as synthetic datagrams in the same
//! `sendmmsg` batch, then the datagram (see [`template_cache`](super::template_cache)).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::assignments::{Assignments, SlaveChange};
use super::frame::MAX_RELAY_PAYLOAD;
use super::metrics::{RelayMetrics, SlaveCounters, reason};
use super::sender::{BatchSender, Outgoing};
use super::template_cache::{CacheStats, DROP_REASONS, Replay, TemplateCache, TemplateCacheConfig};
use super::threads::{ListenerThreads, Sockets};
use crate::error::IngestError;
use crate::listener::{BatchReceiver, Datagram};
use crate::receiver::canonical;

/// How a forwarder runs.
#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    /// UDP addresses exporters send to (port 0 picks a free port).
    pub listeners: Vec<SocketAddr>,
    /// The slaves' relay listeners (by convention their flow port + 30000), by index.
    pub slaves: Vec<SocketAddr>,
    /// The exporter -> slave state file (JSON, see [`Assignments`]).
    pub state_file: PathBuf,
    /// Receive buffer asked for on every listener.
    pub recv_buffer: usize,
    /// Send buffer asked for on every forwarding socket.
    pub send_buffer: usize,
    /// Most exporters assigned; datagrams of further new exporters are dropped and counted.
    pub max_exporters: usize,
    /// How long a thread waits for datagrams before it checks for shutdown.
    pub poll_interval: Duration,
    /// Bounds of each thread's template cache (templates replayed to the new slave of a
    /// rebalanced exporter).
    pub template_cache: TemplateCacheConfig,
}

impl ForwarderConfig {
    /// Defaults: 8 MiB receive and send buffers, 65,536 exporters, 100 ms poll interval, the
    /// default [`TemplateCacheConfig`] (1024 templates per exporter, 16 MiB per listener).
    pub fn new(listeners: Vec<SocketAddr>, slaves: Vec<SocketAddr>, state_file: PathBuf) -> Self {
        Self {
            listeners,
            slaves,
            state_file,
            recv_buffer: 8 << 20,
            send_buffer: 8 << 20,
            max_exporters: 1 << 16,
            poll_interval: Duration::from_millis(100),
            template_cache: TemplateCacheConfig::default(),
        }
    }
}

/// A running forwarder.
#[derive(Debug)]
pub struct Forwarder {
    bound: Vec<SocketAddr>,
    /// The sending sockets are dual-stack (an IPv6 slave at start).
    dual_stack: bool,
    assignments: Arc<Assignments>,
    metrics: Arc<RelayMetrics>,
    threads: ListenerThreads,
}

impl Forwarder {
    /// Loads the assignments, binds every listener and starts one thread per listener.
    pub fn start(config: ForwarderConfig, metrics: Arc<RelayMetrics>) -> Result<Self, IngestError> {
        let assignments = Arc::new(Assignments::open(
            config.state_file.clone(),
            config.slaves.clone(),
            config.max_exporters,
        )?);
        metrics.set_load(&assignments.slaves(), &assignments.load());
        for r in super::metrics::DROP_REASONS {
            metrics.dropped(r);
        }
        let sockets = Sockets {
            listeners: &config.listeners,
            recv_buffer: config.recv_buffer,
            poll_interval: config.poll_interval,
            slaves: &assignments.slaves(),
            send_buffer: config.send_buffer,
        };
        let (pairs, bound) = sockets.bind("forwarder")?;
        let mut threads = ListenerThreads::new();
        for ((rx, tx), addr) in pairs.into_iter().zip(&bound) {
            let worker = Worker::new(
                rx,
                tx,
                Arc::clone(&assignments),
                Arc::clone(&metrics),
                config.template_cache,
            );
            threads = threads.spawn(format!("flowfold-fwd-{}", addr.port()), move |stop| worker.run(stop))?;
        }
        let forwarder = Self {
            bound,
            dual_stack: config.slaves.iter().any(|s| s.ip().to_canonical().is_ipv6()),
            assignments,
            metrics,
            threads,
        };
        tracing::info!(listeners = ?forwarder.bound, slaves = ?forwarder.assignments.slaves(), "forwarder started");
        Ok(forwarder)
    }

    /// The addresses the listeners are bound to, in the order configured.
    pub fn bound(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// The slaves' relay addresses, by index (removed ones included: indices are stable).
    pub fn slaves(&self) -> Vec<SocketAddr> {
        self.assignments.slaves()
    }

    /// The slaves that take exporters now.
    pub fn active_slaves(&self) -> Vec<SocketAddr> {
        self.assignments.active_slaves()
    }

    /// Makes `slaves` (relay addresses) the group's slaves: added ones take the next new
    /// exporters (fewest first), removed ones are retired and their exporters moved to the
    /// remaining slaves, losing nothing: as with [`rebalance`](Self::rebalance), each
    /// thread replays a moved exporter's templates to its new slave before its next datagram.
    /// An IPv6 slave can only be added if one was configured at start (the sending sockets are
    /// dual-stack then).
    pub fn set_slaves(&self, slaves: &[SocketAddr]) -> Result<SlaveChange, IngestError> {
        if !self.dual_stack
            && let Some(v6) = slaves.iter().find(|s| s.ip().to_canonical().is_ipv6())
        {
            return Err(IngestError::RelayConfig {
                setting: "slaves",
                reason: format!("IPv6 slave {v6} added to a proxy whose slaves were all IPv4 at start: restart it"),
            });
        }
        let change = self.assignments.set_slaves(slaves)?;
        self.metrics
            .set_load(&self.assignments.slaves(), &self.assignments.load());
        Ok(change)
    }

    /// Every exporter and the index of its slave, sorted by exporter.
    pub fn assignments(&self) -> Vec<(IpAddr, usize)> {
        self.assignments.snapshot()
    }

    /// Moves `exporter` to slave `slave` (an index into [`slaves`](Self::slaves)) and persists
    /// it; returns its previous slave. Its datagrams go to the new slave from the next receive
    /// batch on; flows already stored stay where they are.
    ///
    /// Before the first of its datagrams that goes to the new slave, each forwarding thread
    /// sends that slave the v9 / IPFIX templates, options templates and options data it has
    /// cached for the exporter, so the slave decodes (and scales by the sampling interval) the
    /// exporter's data at once instead of after its next template refresh. Nothing is sent
    /// while the exporter is silent. Every flow is stored once, by the slave its datagram went
    /// to; see the crate README for the limits (cache bounds, forwarder restarts).
    pub fn rebalance(&self, exporter: IpAddr, slave: usize) -> Result<Option<usize>, IngestError> {
        let previous = self.assignments.rebalance(exporter, slave)?;
        self.metrics
            .set_load(&self.assignments.slaves(), &self.assignments.load());
        Ok(previous)
    }

    /// Evens out the exporters over the active slaves (counts differ by at most one), each
    /// move a [`rebalance`](Self::rebalance) (templates replayed, nothing lost); returns the
    /// moves, none when they are even already.
    pub fn even_out(&self) -> Result<Vec<Moved>, IngestError> {
        let all = self.assignments.slaves();
        let active_addresses = self.assignments.active_slaves();
        let active: Vec<usize> = (0..all.len()).filter(|i| active_addresses.contains(&all[*i])).collect();
        let moves = plan_even(&self.assignments.snapshot(), &active);
        for m in &moves {
            self.rebalance(m.exporter, m.to)?;
        }
        if !moves.is_empty() {
            tracing::info!(moves = moves.len(), "exporters evened out over the slaves");
        }
        Ok(moves)
    }

    /// Stops every thread (within one poll interval).
    pub fn shutdown(self) -> Result<(), IngestError> {
        let result = self.threads.stop();
        tracing::info!("forwarder stopped");
        result
    }
}

/// Drop counters of one thread, resolved once.
struct Drops {
    oversized: Counter,
    unknown_family: Counter,
    too_many_exporters: Counter,
    send_buffer_full: Counter,
    send_error: Counter,
}

/// One datagram of a send batch: a received one, or a synthetic template datagram.
#[derive(Debug, Clone, Copy)]
enum Item {
    Received { index: usize, target: usize },
    Replay(usize),
}

/// One listener's thread.
struct Worker {
    rx: BatchReceiver,
    tx: BatchSender,
    assignments: Arc<Assignments>,
    metrics: Arc<RelayMetrics>,
    slaves: Vec<SlaveCounters>,
    drops: Drops,
    cache: HashMap<IpAddr, usize>,
    generation: u64,
    templates: TemplateCache,
    /// Synthetic datagrams of the current batch (reused).
    replay: Replay,
    /// What the current batch sends, in order (reused).
    items: Vec<Item>,
    /// Template cache figures last added to the metrics.
    published: CacheStats,
    cache_dropped: [Counter; 3],
}

impl Worker {
    fn new(
        rx: BatchReceiver,
        tx: BatchSender,
        assignments: Arc<Assignments>,
        metrics: Arc<RelayMetrics>,
        template_cache: TemplateCacheConfig,
    ) -> Self {
        let slaves = assignments.slaves().iter().map(|s| metrics.slave(*s)).collect();
        let drops = Drops {
            oversized: metrics.dropped(reason::OVERSIZED),
            unknown_family: metrics.dropped(reason::UNKNOWN_FAMILY),
            too_many_exporters: metrics.dropped(reason::TOO_MANY_EXPORTERS),
            send_buffer_full: metrics.dropped(reason::SEND_BUFFER_FULL),
            send_error: metrics.dropped(reason::SEND_ERROR),
        };
        let generation = assignments.generation();
        let cache_dropped = DROP_REASONS.map(|r| metrics.template_cache_dropped(r));
        Self {
            rx,
            tx,
            assignments,
            metrics,
            slaves,
            drops,
            cache: HashMap::new(),
            generation,
            templates: TemplateCache::new(template_cache),
            replay: Replay::default(),
            items: Vec::with_capacity(crate::listener::BATCH),
            published: CacheStats::default(),
            cache_dropped,
        }
    }

    /// Adds what the template cache changed since the last call to the metrics.
    fn publish_cache_stats(&mut self) {
        let now = self.templates.stats();
        if now == self.published {
            return;
        }
        let delta = now.bytes as i64 - self.published.bytes as i64;
        self.metrics.template_cache_bytes.inc_by(delta);
        for (counter, (new, old)) in self
            .cache_dropped
            .iter()
            .zip(now.dropped.iter().zip(self.published.dropped))
        {
            counter.inc_by(new - old);
        }
        self.published = now;
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
            if n > 0 {
                let generation = self.assignments.generation();
                if generation != self.generation {
                    self.generation = generation;
                    self.cache.clear();
                }
                let errors = self.forward(n);
                self.publish_cache_stats();
                if let Some(e) = errors
                    && last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
                {
                    last_error_log = Some(Instant::now());
                    tracing::warn!(listener = ?local, error = %e, "forwarding to slaves fails (logged at most every 10 s)");
                }
            }
            if last_drop_read.elapsed() >= Duration::from_secs(1) {
                last_drop_read = Instant::now();
                self.metrics.publish_socket_drops(local);
            }
        }
        // This thread's cache goes away with it.
        self.metrics.template_cache_bytes.dec_by(self.published.bytes as i64);
    }

    /// Forwards the `n` datagrams just received, each preceded by the synthetic template
    /// datagrams its exporter's new slave needs; returns the last send error, if any.
    fn forward(&mut self, n: usize) -> Option<io::Error> {
        let Self {
            rx,
            tx,
            assignments,
            metrics,
            slaves,
            drops,
            cache,
            templates,
            replay,
            items,
            ..
        } = self;
        let mut route = |d: &Datagram<'_>| -> Option<usize> {
            if d.truncated || d.payload.len() > MAX_RELAY_PAYLOAD {
                drops.oversized.inc();
                return None;
            }
            let exporter = canonical(d.source);
            if let Some(&slave) = cache.get(&exporter) {
                return Some(slave);
            }
            let Some(assigned) = assignments.assign(exporter) else {
                drops.too_many_exporters.inc();
                return None;
            };
            if assigned.new {
                metrics.set_load(&assignments.slaves(), &assignments.load());
            }
            cache.insert(exporter, assigned.slave);
            Some(assigned.slave)
        };
        // Route every datagram and let the template cache see it (in arrival order, so a
        // replay holds exactly the templates seen before the datagram it precedes).
        items.clear();
        replay.clear();
        for index in 0..n {
            let Some(d) = rx.datagram(index) else {
                drops.unknown_family.inc();
                continue;
            };
            let Some(target) = route(&d) else { continue };
            let first = replay.len();
            templates.forward(d.source, target, d.payload, replay);
            items.extend((first..replay.len()).map(Item::Replay));
            items.push(Item::Received { index, target });
        }
        // Slaves added since this thread last looked (a new exporter may be routed to one).
        if assignments.slave_count() > slaves.len() {
            for addr in assignments.slaves().into_iter().skip(slaves.len()) {
                match tx.add_target(addr) {
                    Ok(()) => slaves.push(metrics.slave(addr)),
                    Err(e) => {
                        tracing::error!(error = %e, "slave not added to this thread's targets");
                        break;
                    }
                }
            }
        }
        let (rx, replay, items) = (&*rx, &*replay, &*items);
        let outgoing = items.iter().enumerate().filter_map(|(tag, item)| match *item {
            Item::Received { index, target } => rx.datagram(index).map(|d| Outgoing {
                tag,
                target,
                source: d.source,
                payload: d.payload,
            }),
            Item::Replay(r) => replay.get(r).map(|(dg, payload)| Outgoing {
                tag,
                target: dg.slave,
                source: dg.source,
                payload,
            }),
        });
        let mut last_error = None;
        tx.send(outgoing, |tag, slave, result| {
            let replayed = match items.get(tag) {
                Some(Item::Replay(r)) => replay.get(*r).map(|(dg, _)| dg.exporter),
                _ => None,
            };
            match (result, replayed) {
                (Ok(bytes), None) => {
                    slaves[slave].datagrams.inc();
                    slaves[slave].bytes.inc_by(bytes as u64);
                }
                (Ok(_), Some(_)) => {
                    slaves[slave].replayed.inc();
                }
                (Err(e), Some(exporter)) => {
                    if let Some(s) = slaves.get(slave) {
                        s.replay_errors.inc();
                    }
                    templates.replay_failed(exporter);
                    last_error = Some(e);
                }
                (Err(e), None) => {
                    if let Some(s) = slaves.get(slave) {
                        s.send_errors.inc();
                    }
                    if e.kind() == io::ErrorKind::WouldBlock {
                        drops.send_buffer_full.inc();
                    } else {
                        drops.send_error.inc();
                    }
                    last_error = Some(e);
                }
            }
        });
        last_error
    }
}

/// One exporter moved by [`Forwarder::even_out`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    pub exporter: IpAddr,
    /// Slave indices, as in [`Forwarder::slaves`].
    pub from: usize,
    pub to: usize,
}

/// The moves that leave the `active` slaves' exporter counts at most one apart: repeatedly the
/// highest-addressed exporter of the most loaded slave (the lowest index on a tie) goes to the
/// least loaded one. Exporters on slaves that are not active count for nothing and are not
/// moved (retiring a slave moves them).
pub fn plan_even(assignments: &[(IpAddr, usize)], active: &[usize]) -> Vec<Moved> {
    let mut on: std::collections::BTreeMap<usize, Vec<IpAddr>> = active.iter().map(|s| (*s, Vec::new())).collect();
    for (exporter, slave) in assignments {
        if let Some(list) = on.get_mut(slave) {
            list.push(*exporter);
        }
    }
    for list in on.values_mut() {
        list.sort();
    }
    let mut moves = Vec::new();
    loop {
        let most = on
            .iter()
            .max_by_key(|(s, l)| (l.len(), std::cmp::Reverse(**s)))
            .map(|(s, _)| *s);
        let least = on.iter().min_by_key(|(s, l)| (l.len(), **s)).map(|(s, _)| *s);
        let (Some(most), Some(least)) = (most, least) else {
            break;
        };
        if on[&most].len() <= on[&least].len() + 1 {
            break;
        }
        let Some(exporter) = on.get_mut(&most).and_then(Vec::pop) else {
            break;
        };
        on.entry(least).or_default().push(exporter);
        moves.push(Moved {
            exporter,
            from: most,
            to: least,
        });
    }
    moves
}

#[cfg(test)]
mod even_tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn exporters_are_evened_out_over_the_active_slaves() {
        let all_on_0: Vec<(IpAddr, usize)> = (1..=5).map(|i| (ip(i), 0)).collect();
        let moves = plan_even(&all_on_0, &[0, 1, 2]);
        assert_eq!(moves.len(), 3, "{moves:?}");
        let mut counts = [5usize, 0, 0];
        for m in &moves {
            assert_eq!(m.from, 0);
            counts[m.from] -= 1;
            counts[m.to] += 1;
        }
        assert!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
            "{counts:?}"
        );
        assert_eq!(moves[0].exporter, ip(5), "the highest address moves first");
        assert!(plan_even(&[(ip(1), 0), (ip(2), 1)], &[0, 1]).is_empty(), "even already");
        // A removed slave (index 1, not active) is neither a source nor a target.
        let moves = plan_even(&[(ip(1), 0), (ip(2), 0), (ip(3), 0), (ip(4), 1)], &[0, 2]);
        assert_eq!(
            moves,
            [Moved {
                exporter: ip(3),
                from: 0,
                to: 2
            }]
        );
        assert!(plan_even(&[], &[]).is_empty());
    }
}
