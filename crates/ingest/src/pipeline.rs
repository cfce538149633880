//! Starts and stops ingest: one receive thread per listener, one writer thread, a bounded queue
//! between them (a full queue drops and counts, it never blocks a socket reader).

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
use crate::template_state::state_path;
use crate::writer;

/// How ingest runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// UDP addresses to listen on for flow export (port 0 picks a free port).
    pub listeners: Vec<SocketAddr>,
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
    stop: Arc<AtomicBool>,
    receivers: Vec<JoinHandle<()>>,
    writer: JoinHandle<Result<(), IngestError>>,
}

impl Ingest {
    /// Binds every listener and starts the threads.
    pub fn start(config: IngestConfig, store: FlowStore, metrics: Arc<IngestMetrics>) -> Result<Self, IngestError> {
        let mut sockets = Vec::with_capacity(config.listeners.len());
        for addr in &config.listeners {
            let (socket, granted) = bind_flow_socket(*addr, config.recv_buffer, config.flush_interval / 2)?;
            if granted < config.recv_buffer {
                tracing::warn!(%addr, granted, wanted = config.recv_buffer, "smaller receive buffer than asked");
            }
            sockets.push(BatchReceiver::new(socket));
        }
        let bound = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| thread_error("listener", e))?;

        let (to_writer, from_receivers) = std::sync::mpsc::sync_channel(config.queue_batches);
        let stop = Arc::new(AtomicBool::new(false));
        let writer_metrics = Arc::clone(&metrics);
        let writer = std::thread::Builder::new()
            .name("flowfold-writer".into())
            .spawn(move || writer::run(store, from_receivers, writer_metrics))
            .map_err(|e| thread_error("flowfold-writer", e))?;

        let mut receivers = Vec::with_capacity(sockets.len());
        for (rx, addr) in sockets.into_iter().zip(&bound) {
            let settings = ReceiverSettings {
                batch_rows: config.batch_rows,
                flush_interval: config.flush_interval,
                decoder: config.decoder,
                template_file: state_path(&config.state_dir, addr.port()),
            };
            let (to_writer, metrics, stop) = (to_writer.clone(), Arc::clone(&metrics), Arc::clone(&stop));
            let name = format!("flowfold-recv-{}", addr.port());
            let handle = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || receiver::run(rx, settings, to_writer, metrics, stop))
                .map_err(|e| thread_error(&name, e))?;
            receivers.push(handle);
        }
        tracing::info!(listeners = ?bound, "ingest started");
        Ok(Self {
            bound,
            stop,
            receivers,
            writer,
        })
    }

    /// The addresses the listeners are bound to, in the order configured.
    pub fn bound(&self) -> &[SocketAddr] {
        &self.bound
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

fn thread_error(name: &str, reason: impl std::fmt::Display) -> IngestError {
    IngestError::Thread {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}
