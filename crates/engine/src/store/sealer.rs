//! The seal thread: takes finished window logs from a bounded queue and seals them, so the
//! append path never waits for Parquet encoding (only for a full queue).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::hours::{HourQueue, Refreshed};
use super::seal::{SealSettings, seal_file};
use super::wal::WalReadBuffer;
use crate::error::{EngineError, Result};

/// Counters shared between the store and its seal thread.
#[derive(Debug, Default)]
pub(crate) struct SealCounters {
    pub queued: AtomicU64,
    pub sealed: AtomicU64,
    pub rows: AtomicU64,
    pub parquet_bytes: AtomicU64,
    pub rollup_bytes: AtomicU64,
    pub rollup_errors: AtomicU64,
    pub bytes_cut: AtomicU64,
    pub errors: AtomicU64,
    pub queue_full_waits: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl SealCounters {
    fn record_error(&self, err: &EngineError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %err, "sealing a window failed; its log stays for recovery");
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(err.to_string());
        }
    }
}

/// Handle of the seal thread.
pub(crate) struct Sealer {
    tx: Option<SyncSender<PathBuf>>,
    handle: Option<JoinHandle<()>>,
    counters: Arc<SealCounters>,
}

impl Sealer {
    /// Starts the seal thread with a queue of `bound` windows; between windows it refreshes the
    /// summed rollups of `hours` (and of the passed hours it seals into, and their days).
    pub(crate) fn start(settings: SealSettings, bound: usize, hours: HourQueue) -> Result<Sealer> {
        let (tx, rx) = sync_channel::<PathBuf>(bound);
        let counters = Arc::new(SealCounters::default());
        let thread_counters = Arc::clone(&counters);
        let handle = std::thread::Builder::new()
            .name("flowfold-seal".into())
            .spawn(move || run(rx, settings, hours, &thread_counters))
            .map_err(EngineError::io("start seal thread", "flowfold-seal"))?;
        Ok(Sealer {
            tx: Some(tx),
            handle: Some(handle),
            counters,
        })
    }

    /// The shared counters.
    pub(crate) fn counters(&self) -> &SealCounters {
        &self.counters
    }

    /// Queues a finished log for sealing; waits if the queue is full.
    pub(crate) fn submit(&self, wal: PathBuf) -> Result<()> {
        let Some(tx) = &self.tx else {
            return Err(EngineError::SealerGone { path: wal });
        };
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let wal = match tx.try_send(wal) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(wal)) => wal,
            Err(TrySendError::Disconnected(wal)) => return Err(EngineError::SealerGone { path: wal }),
        };
        self.counters.queue_full_waits.fetch_add(1, Ordering::Relaxed);
        tx.send(wal).map_err(|e| EngineError::SealerGone { path: e.0 })
    }

    /// Closes the queue and waits until every queued window is sealed.
    pub(crate) fn shutdown(&mut self) {
        self.tx = None;
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("seal thread panicked; unsealed logs stay for recovery");
        }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Niceness of the seal thread: sealing is background work that may lag behind, while the
/// threads that read sockets must not, or the kernel drops datagrams during a burst.
const SEAL_NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority (Linux: nice is per thread).
fn lower_priority() {
    // SAFETY: gettid has no preconditions; setpriority only reads its arguments.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, SEAL_NICE) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "seal thread keeps its priority");
    }
}

fn run(rx: Receiver<PathBuf>, settings: SealSettings, mut hours: HourQueue, counters: &SealCounters) {
    lower_priority();
    let mut reader = WalReadBuffer::default();
    loop {
        let wal = match rx.try_recv() {
            Ok(wal) => wal,
            // Nothing to seal: refresh one directory if one is ready, else wait for a window
            // until one is.
            Err(TryRecvError::Empty) => match hours.ready_in(crate::clock::now_ms()) {
                Some(wait) if wait.is_zero() => {
                    count_refresh(counters, hours.refresh_one(crate::clock::now_ms()));
                    continue;
                }
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(wal) => wal,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(wal) => wal,
                    Err(_) => break,
                },
            },
            Err(TryRecvError::Disconnected) => break,
        };
        match seal_file(&wal, &settings, &mut reader) {
            Ok(outcome) => {
                counters.sealed.fetch_add(1, Ordering::Relaxed);
                counters.rows.fetch_add(outcome.rows as u64, Ordering::Relaxed);
                counters
                    .parquet_bytes
                    .fetch_add(outcome.parquet_bytes, Ordering::Relaxed);
                counters.bytes_cut.fetch_add(outcome.bytes_cut, Ordering::Relaxed);
                counters.rollup_bytes.fetch_add(outcome.rollup_bytes, Ordering::Relaxed);
                counters
                    .rollup_errors
                    .fetch_add(outcome.rollup_errors, Ordering::Relaxed);
                if settings.rollups
                    && outcome.rows > 0
                    && let Some(stem) = crate::layout::stem_path(&wal)
                {
                    hours.sealed(&stem, crate::clock::now_ms());
                }
            }
            Err(err) => counters.record_error(&err),
        }
    }
    // Closing: the hours sealed into (and their days) are refreshed now; those found at open
    // wait for the next.
    count_refresh(counters, hours.refresh_sealed(crate::clock::now_ms()));
}

fn count_refresh(counters: &SealCounters, done: Refreshed) {
    counters.rollup_bytes.fetch_add(done.bytes, Ordering::Relaxed);
    counters.rollup_errors.fetch_add(done.errors, Ordering::Relaxed);
}
