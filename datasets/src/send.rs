//! Sends a generator's flows over UDP as NetFlow v5/v9/IPFIX, each exporter from its own source
//! address (a socket bound to the exporter's 127.x address, connected to the target), paced to a
//! flow rate, and records the ground truth (what the collector must store) on the way.
//!
//! Flows are buffered per exporter and encoded `flush_flows` at a time, or every
//! `flush_interval` at low rates, so a flow is never held back long. Pacing sleeps in slices of
//! about one millisecond of flows.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use engine::FlowRecord;
use engine::addr::{Addr16, from_ip};

use crate::encode::{Encoder, EncoderConfig, Format};
use crate::generator::{DatasetError, ExportFormat, Generator};
use crate::truth::TruthWriter;

/// Smallest datagram size accepted (room for a header, a template and a few records).
pub const MIN_DATAGRAM: usize = 512;
/// Largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// How to send.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Collector address.
    pub target: SocketAddr,
    /// Flows per second; 0 = as fast as possible.
    pub rate: u64,
    /// Flows end at the wall clock (continuous mode) instead of the generator's span.
    pub follow_clock: bool,
    /// Templates are re-sent every this many datagrams (v9, IPFIX).
    pub template_refresh_packets: u32,
    /// Sampling interval announced by every exporter.
    pub sampling_interval: Option<u32>,
    /// Largest datagram in bytes.
    pub max_datagram: usize,
    /// Flows buffered per exporter before encoding.
    pub flush_flows: usize,
    /// Partial buffers are encoded and sent at least this often.
    pub flush_interval: Duration,
}

impl SendConfig {
    /// Defaults for `target`: as fast as possible, refresh every 20 datagrams, 1400-byte
    /// datagrams, 256-flow buffers flushed at least every 20 ms.
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            rate: 0,
            follow_clock: false,
            template_refresh_packets: 20,
            sampling_interval: None,
            max_datagram: 1400,
            flush_flows: 256,
            flush_interval: Duration::from_millis(20),
        }
    }
}

/// What one exporter sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExporterReport {
    /// Bound source address (port chosen by the kernel).
    pub source: SocketAddr,
    /// Export format.
    pub format: ExportFormat,
    /// Flows encoded.
    pub flows: u64,
    /// Datagrams the kernel accepted.
    pub datagrams: u64,
}

/// The outcome of a run, printed as one JSON line by `flowfold gen`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SendReport {
    /// Flows encoded (all sent unless `send_errors` is non-zero).
    pub flows: u64,
    /// Datagrams the kernel accepted.
    pub datagrams: u64,
    /// Payload bytes of those datagrams.
    pub bytes: u64,
    /// Datagrams the kernel refused (e.g. connection refused: nobody listening).
    pub send_errors: u64,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Achieved flows per second.
    pub flows_per_second: f64,
    /// Per exporter, by index.
    pub exporters: Vec<ExporterReport>,
}

/// One exporter's socket, encoder and buffer.
struct Lane {
    socket: UdpSocket,
    addr: Addr16,
    encoder: Encoder,
    pending: Vec<FlowRecord>,
    last_export_ms: i64,
    report: ExporterReport,
}

fn encoder_format(f: ExportFormat) -> Format {
    match f {
        ExportFormat::V5 => Format::V5,
        ExportFormat::V9 => Format::V9,
        ExportFormat::Ipfix => Format::Ipfix,
    }
}

/// Milliseconds since the Unix epoch, now (the engine's clock, re-exported for callers here).
pub use engine::clock::now_ms;

/// Shared state of a run.
struct Run<'a> {
    lanes: Vec<Lane>,
    out: Vec<Vec<u8>>,
    truth: Option<&'a mut TruthWriter>,
    bytes: u64,
    send_errors: u64,
    follow_clock: bool,
}

impl Run<'_> {
    /// Encodes and sends lane `i`'s buffered flows and records their truth.
    fn flush(&mut self, i: usize) -> Result<(), DatasetError> {
        let Some(lane) = self.lanes.get_mut(i) else {
            return Err(DatasetError::UnknownExporter {
                index: i,
                count: self.lanes.len(),
            });
        };
        if lane.pending.is_empty() {
            return Ok(());
        }
        let newest = lane
            .pending
            .iter()
            .map(|f| f.flow_end.unwrap_or(f.flow_start))
            .max()
            .unwrap_or(0);
        let mut export = lane.last_export_ms.max(newest);
        if self.follow_clock {
            export = export.max(now_ms());
        }
        lane.last_export_ms = export;
        if let Some(truth) = self.truth.as_deref_mut() {
            for f in &lane.pending {
                if lane.encoder.carries(f) {
                    truth.push(i, &lane.encoder.expected(f, lane.addr))?;
                }
            }
        }
        lane.report.flows += lane.pending.iter().filter(|f| lane.encoder.carries(f)).count() as u64;
        lane.encoder.encode(&lane.pending, export, &mut self.out);
        lane.pending.clear();
        for d in self.out.drain(..) {
            match lane.socket.send(&d) {
                Ok(_) => {
                    lane.report.datagrams += 1;
                    self.bytes += d.len() as u64;
                }
                Err(_) => self.send_errors += 1,
            }
        }
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), DatasetError> {
        (0..self.lanes.len()).try_for_each(|i| self.flush(i))
    }
}

fn open_lanes(generator: &Generator, cfg: &SendConfig) -> Result<Vec<Lane>, DatasetError> {
    generator
        .exporters()
        .iter()
        .map(|spec| {
            let bind = SocketAddr::new(IpAddr::V4(spec.addr), 0);
            let socket = UdpSocket::bind(bind).map_err(|source| DatasetError::Bind { addr: bind, source })?;
            let source = socket
                .local_addr()
                .map_err(|source| DatasetError::Bind { addr: bind, source })?;
            socket.connect(cfg.target).map_err(|e| DatasetError::Connect {
                from: source,
                target: cfg.target,
                source: e,
            })?;
            let encoder = Encoder::new(EncoderConfig {
                format: encoder_format(spec.format),
                observation_domain: spec.observation_domain,
                template_refresh_packets: cfg.template_refresh_packets,
                sampling_interval: cfg.sampling_interval,
                max_datagram: cfg.max_datagram,
            });
            Ok(Lane {
                socket,
                addr: from_ip(source.ip()),
                encoder,
                pending: Vec::with_capacity(cfg.flush_flows),
                last_export_ms: i64::MIN,
                report: ExporterReport {
                    source,
                    format: spec.format,
                    flows: 0,
                    datagrams: 0,
                },
            })
        })
        .collect()
}

/// Sends the generator's flows until it ends or `stop` is set; records the truth if a writer is given.
pub fn run(
    generator: &mut Generator,
    cfg: &SendConfig,
    truth: Option<&mut TruthWriter>,
    stop: &AtomicBool,
) -> Result<SendReport, DatasetError> {
    if cfg.flush_flows == 0 {
        return Err(DatasetError::InvalidConfig {
            field: "flush_flows",
            reason: "must be positive".into(),
        });
    }
    if !(MIN_DATAGRAM..=MAX_UDP_PAYLOAD).contains(&cfg.max_datagram) {
        let reason = format!("{} is not within {MIN_DATAGRAM}..={MAX_UDP_PAYLOAD}", cfg.max_datagram);
        return Err(DatasetError::InvalidConfig {
            field: "max_datagram",
            reason,
        });
    }
    let mut run = Run {
        lanes: open_lanes(generator, cfg)?,
        out: Vec::new(),
        truth,
        bytes: 0,
        send_errors: 0,
        follow_clock: cfg.follow_clock,
    };
    let chunk = if cfg.rate == 0 {
        4096
    } else {
        (cfg.rate / 1000).clamp(1, 4096)
    };
    let start = Instant::now();
    let first = generator.produced();
    let mut last_flush = start;
    'run: while !stop.load(Ordering::Relaxed) {
        if cfg.rate > 0 {
            // Sleep until the flows sent so far are due.
            let due = Duration::from_secs_f64((generator.produced() - first) as f64 / cfg.rate as f64);
            let elapsed = start.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
        if cfg.follow_clock {
            generator.set_clock(now_ms());
        }
        for _ in 0..chunk {
            let Some((i, flow)) = generator.next_flow() else {
                break 'run;
            };
            let Some(lane) = run.lanes.get_mut(i) else {
                return Err(DatasetError::UnknownExporter {
                    index: i,
                    count: run.lanes.len(),
                });
            };
            lane.pending.push(flow);
            if lane.pending.len() >= cfg.flush_flows {
                run.flush(i)?;
            }
        }
        if last_flush.elapsed() >= cfg.flush_interval {
            run.flush_all()?;
            last_flush = Instant::now();
        }
    }
    run.flush_all()?;
    let seconds = start.elapsed().as_secs_f64();
    let exporters: Vec<ExporterReport> = run.lanes.into_iter().map(|l| l.report).collect();
    let flows = exporters.iter().map(|e| e.flows).sum();
    Ok(SendReport {
        flows,
        datagrams: exporters.iter().map(|e| e.datagrams).sum(),
        bytes: run.bytes,
        send_errors: run.send_errors,
        seconds,
        flows_per_second: if seconds > 0.0 { flows as f64 / seconds } else { 0.0 },
        exporters,
    })
}
