//! Starts and stops ingest: one receive thread per listener (flow listeners and relay
//! listeners alike), one writer thread, a bounded queue between them (a full queue drops and
//! counts, it never blocks a socket reader).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use engine::store::FlowStore;

use crate::decode::DecoderConfig;
use crate::error::IngestError;
use crate::listener::{BatchReceiver, bind_flow_socket};
use crate::metrics::IngestMetrics;
use crate::receiver::{self, ReceiverSettings};
use crate::template_state::{relay_state_path, state_path};
use crate::writer;

/// How ingest runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// UDP addresses to listen on for flow export (port 0 picks a free port).
    pub listeners: Vec<SocketAddr>,
    /// UDP addresses to listen on for relay frames from a proxy (flow-source model; by
    /// convention a flow port + 30000). Flows are stored under the exporter the frame names.
    /// Default: none.
    pub relay_listeners: Vec<SocketAddr>,
    /// Receive buffer asked for on every socket.
    pub recv_buffer: usize,
    /// Flows per batch handed to the writer.
    pub batch_rows: usize,
    /// Longest time a decoded flow waits before it is handed to the writer.
    pub flush_interval: Duration,
    /// Batches the queue to the writer holds before it drops.
    pub queue_batches: usize,
    /// Where decoder templates are kept across restarts.
    pub state_dir: PathBuf,
    /// Decoder limits.
    pub decoder: DecoderConfig,
}

impl IngestConfig {
    /// Defaults for `listeners`, keeping state in `state_dir`.
    pub fn new(listeners: Vec<SocketAddr>, state_dir: PathBuf) -> Self {
        Self {
            listeners,
            relay_listeners: Vec::new(),
            recv_buffer: 8 << 20,
            batch_rows: 8192,
            flush_interval: Duration::from_millis(250),
            queue_batches: 256,
            state_dir,
            decoder: DecoderConfig::default(),
        }
    }
}

/// Running ingest.
#[derive(Debug)]
pub struct Ingest {
    bound: Vec<SocketAddr>,
    bound_relays: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    receivers: Vec<JoinHandle<()>>,
    writer: JoinHandle<Result<(), IngestError>>,
}

impl Ingest {
    /// Binds every listener and relay listener and starts the threads.
    pub fn start(config: IngestConfig, store: FlowStore, metrics: Arc<IngestMetrics>) -> Result<Self, IngestError> {
        let flow_sockets = bind_all(&config.listeners, &config)?;
        let relay_sockets = bind_all(&config.relay_listeners, &config)?;
        let bound = local_addrs(&flow_sockets)?;
        let bound_relays = local_addrs(&relay_sockets)?;

        let (to_writer, from_receivers) = std::sync::mpsc::sync_channel(config.queue_batches);
        let stop = Arc::new(AtomicBool::new(false));
        let writer_metrics = Arc::clone(&metrics);
        let writer = std::thread::Builder::new()
            .name("flowfold-writer".into())
            .spawn(move || writer::run(store, from_receivers, writer_metrics))
            .map_err(|e| thread_error("flowfold-writer", e))?;

        let sockets = flow_sockets
            .into_iter()
            .zip(&bound)
            .map(|(rx, addr)| (rx, addr, false))
            .chain(
                relay_sockets
                    .into_iter()
                    .zip(&bound_relays)
                    .map(|(rx, addr)| (rx, addr, true)),
            );
        let mut receivers = Vec::with_capacity(bound.len() + bound_relays.len());
        for (rx, addr, relayed) in sockets {
            let (template_file, name) = if relayed {
                (
                    relay_state_path(&config.state_dir, addr.port()),
                    format!("flowfold-relay-{}", addr.port()),
                )
            } else {
                (
                    state_path(&config.state_dir, addr.port()),
                    format!("flowfold-recv-{}", addr.port()),
                )
            };
            let settings = ReceiverSettings {
                batch_rows: config.batch_rows,
                flush_interval: config.flush_interval,
                decoder: config.decoder,
                template_file,
                relayed,
            };
            let (to_writer, metrics, stop) = (to_writer.clone(), Arc::clone(&metrics), Arc::clone(&stop));
            let handle = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || receiver::run(rx, settings, to_writer, metrics, stop))
                .map_err(|e| thread_error(&name, e))?;
            receivers.push(handle);
        }
        tracing::info!(listeners = ?bound, relay_listeners = ?bound_relays, "ingest started");
        Ok(Self {
            bound,
            bound_relays,
            stop,
            receivers,
            writer,
        })
    }

    /// The addresses the flow listeners are bound to, in the order configured.
    pub fn bound(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// The addresses the relay listeners are bound to, in the order configured.
    pub fn bound_relays(&self) -> &[SocketAddr] {
        &self.bound_relays
    }

    /// Stops receiving, hands every decoded flow to the writer, and seals every open window.
    pub fn shutdown(self) -> Result<(), IngestError> {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.receivers {
            handle.join().map_err(|_| thread_error("receiver", "panicked"))?;
        }
        self.writer
            .join()
            .map_err(|_| thread_error("flowfold-writer", "panicked"))?
    }
}

/// Binds a socket for each address with the configured buffer and read timeout.
fn bind_all(addrs: &[SocketAddr], config: &IngestConfig) -> Result<Vec<BatchReceiver>, IngestError> {
    let mut sockets = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let (socket, granted) = bind_flow_socket(*addr, config.recv_buffer, config.flush_interval / 2)?;
        if granted < config.recv_buffer {
            tracing::warn!(%addr, granted, wanted = config.recv_buffer, "smaller receive buffer than asked");
        }
        sockets.push(BatchReceiver::new(socket));
    }
    Ok(sockets)
}

fn local_addrs(sockets: &[BatchReceiver]) -> Result<Vec<SocketAddr>, IngestError> {
    sockets
        .iter()
        .map(BatchReceiver::local_addr)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| thread_error("listener", e))
}

fn thread_error(name: &str, reason: impl std::fmt::Display) -> IngestError {
    IngestError::Thread {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}
