//! What the forwarder and the spreader share: one receiving and one sending socket per
//! listener, one thread per listener, and stopping them all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::sender::BatchSender;
use crate::error::IngestError;
use crate::listener::{BatchReceiver, bind_flow_socket};

/// A receiving socket on a listener address and a sending socket towards the slaves.
pub(crate) type SocketPair = (BatchReceiver, BatchSender);

/// How the sockets of a proxy's listeners are made.
pub(crate) struct Sockets<'a> {
    /// UDP addresses exporters send to.
    pub listeners: &'a [SocketAddr],
    /// Receive buffer asked for on every listener.
    pub recv_buffer: usize,
    /// How long a receive waits before the thread checks for shutdown.
    pub poll_interval: Duration,
    /// The slaves' relay addresses.
    pub slaves: &'a [SocketAddr],
    /// Send buffer asked for on every sending socket.
    pub send_buffer: usize,
}

impl Sockets<'_> {
    /// Binds every listener and opens its sending socket; returns them with the bound
    /// addresses, in the order configured. `what` names the caller in errors.
    pub(crate) fn bind(&self, what: &'static str) -> Result<(Vec<SocketPair>, Vec<SocketAddr>), IngestError> {
        if self.listeners.is_empty() {
            return Err(IngestError::RelayConfig {
                setting: "listeners",
                reason: format!("a {what} needs at least one listener"),
            });
        }
        let mut pairs = Vec::with_capacity(self.listeners.len());
        for addr in self.listeners {
            let (socket, granted) = bind_flow_socket(*addr, self.recv_buffer, self.poll_interval)?;
            if granted < self.recv_buffer {
                tracing::warn!(%addr, granted, wanted = self.recv_buffer, "smaller receive buffer than asked");
            }
            pairs.push((
                BatchReceiver::new(socket),
                BatchSender::new(self.slaves, self.send_buffer)?,
            ));
        }
        let bound = pairs
            .iter()
            .map(|(rx, _)| rx.local_addr())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| IngestError::Io {
                op: "relay listener address",
                source,
            })?;
        Ok((pairs, bound))
    }
}

/// The listener threads of a forwarder or spreader, sharing one stop flag.
#[derive(Debug)]
pub(crate) struct ListenerThreads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ListenerThreads {
    /// No thread yet.
    pub(crate) fn new() -> ListenerThreads {
        ListenerThreads {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        }
    }

    /// Starts thread `name` running `work` until the stop flag is set; on failure every thread
    /// started so far is stopped and the error names the thread.
    pub(crate) fn spawn(
        mut self,
        name: String,
        work: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> Result<ListenerThreads, IngestError> {
        let stop = Arc::clone(&self.stop);
        match std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || work(&stop))
        {
            Ok(handle) => {
                self.threads.push(handle);
                Ok(self)
            }
            Err(e) => {
                let _ = self.stop();
                Err(IngestError::Thread {
                    name,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Sets the stop flag and waits for every thread (within one poll interval); an error
    /// names a thread that panicked.
    pub(crate) fn stop(self) -> Result<(), IngestError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut result = Ok(());
        for handle in self.threads {
            let name = handle.thread().name().unwrap_or("relay").to_string();
            if handle.join().is_err() {
                result = Err(IngestError::Thread {
                    name,
                    reason: "panicked".into(),
                });
            }
        }
        result
    }
}
