//! The channel store (writer side): one channel per exporter, each partitioned into time windows
//! of `flow_start`. Open windows are Arrow IPC logs; closed windows go to the seal thread, which
//! writes sorted Parquet (DESIGN section 3).
//!
//! Files: `config` (settings), `wal` (the log file), `seal` (one window to Parquet), `props` (the
//! Parquet writer settings), `sealer` (the seal thread), `recovery` (startup), `split` (a batch
//! into its windows), `retention` (removing windows by age and size).

mod config;
mod hours;
mod props;
mod recovery;
pub mod retention;
mod seal;
mod sealer;
mod split;
mod wal;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;

pub use config::{SortKey, StoreConfig};
pub use recovery::RecoveryReport;
pub use wal::{WalContents, decode_wal, read_wal};

use crate::addr::Addr16;
use crate::error::Result;
use crate::layout::{
    FileKind, WindowName, channel_dir, ensure_dir, next_part, partition_dir, stem_path, sync_dir, with_kind,
};
use seal::SealSettings;
use sealer::Sealer;
use wal::WalWriter;

/// What one [`FlowStore::append`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendReport {
    /// Rows written.
    pub rows: usize,
    /// Window files opened (new windows, late parts, rollovers).
    pub windows_opened: usize,
    /// Window files closed and queued for sealing (segment full or too many open windows).
    pub windows_queued: usize,
    /// Rows with an implausible `flow_start`, filed in the current window instead of their own.
    pub rows_misfiled: usize,
}

/// What one [`FlowStore::maintain`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaintainReport {
    /// Logs fsynced.
    pub files_synced: usize,
    /// Windows past their end plus grace, queued for sealing.
    pub windows_queued: usize,
}

/// What [`FlowStore::close`] did, and the totals of the store's life.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CloseReport {
    /// Windows still open at close, now sealed.
    pub windows_closed: usize,
    /// Totals over the store's life.
    pub stats: StoreStats,
}

/// Counters of a store since it was opened.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Rows appended.
    pub rows_appended: u64,
    /// Batches appended (after splitting by window).
    pub batches_appended: u64,
    /// Window files opened.
    pub windows_opened: u64,
    /// Window files queued for sealing.
    pub windows_queued: u64,
    /// Window files the seal thread finished (including empty ones).
    pub windows_sealed: u64,
    /// Rows written to Parquet by the seal thread.
    pub rows_sealed: u64,
    /// Bytes of Parquet written by the seal thread.
    pub parquet_bytes: u64,
    /// Bytes of rollups written by the seal thread (beside the Parquet bytes).
    pub rollup_bytes: u64,
    /// Rollups that could not be written (their parts are read from their flows).
    pub rollup_errors: u64,
    /// Seals that failed (their logs stay and are sealed at the next open).
    pub seal_errors: u64,
    /// Times `append` or `maintain` waited for a full seal queue.
    pub seal_queue_waits: u64,
    /// The last seal error, if any.
    pub last_seal_error: Option<String>,
    /// Windows open now.
    pub open_windows: usize,
}

struct OpenWindow {
    wal: WalWriter,
    /// Whether the part is in its channel's outlier index (see [`crate::outliers`]).
    outlier: bool,
}

/// The channel store: append flows, seal windows, recover at open.
pub struct FlowStore {
    cfg: StoreConfig,
    window_ms: i64,
    grace_ms: i64,
    fsync_ms: i64,
    channels: HashMap<Addr16, BTreeMap<i64, OpenWindow>>,
    /// Channels whose outlier index is known to be complete.
    indexed: HashSet<Addr16>,
    sealer: Sealer,
    last_sync_ms: Option<i64>,
    rows_appended: u64,
    batches_appended: u64,
    windows_opened: u64,
}

impl std::fmt::Debug for FlowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowStore")
            .field("data_dir", &self.cfg.data_dir)
            .field("open_windows", &self.open_windows())
            .finish()
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl FlowStore {
    /// Opens the store: validates settings, recovers logs left by a crash (sealing them) and
    /// starts the seal thread.
    pub fn open(cfg: StoreConfig) -> Result<(FlowStore, RecoveryReport)> {
        let window_ms = cfg.validate()?;
        let settings = SealSettings {
            sort: cfg.sort,
            zstd_level: cfg.zstd_level,
            row_group_rows: cfg.row_group_rows,
            rollups: cfg.rollups,
        };
        ensure_dir(&crate::layout::flows_root(&cfg.data_dir))?;
        let report = recovery::recover(&cfg.data_dir, &settings)?;
        let hours = match cfg.rollups {
            true => hours::HourQueue::found_at_open(&cfg.data_dir, crate::clock::now_ms())?,
            false => hours::HourQueue::default(),
        };
        let sealer = Sealer::start(settings, cfg.seal_queue, hours)?;
        let store = FlowStore {
            window_ms,
            grace_ms: ms(cfg.seal_grace),
            fsync_ms: ms(cfg.fsync_interval),
            cfg,
            channels: HashMap::new(),
            indexed: HashSet::new(),
            sealer,
            last_sync_ms: None,
            rows_appended: 0,
            batches_appended: 0,
            windows_opened: 0,
        };
        Ok((store, report))
    }

    /// The settings the store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Appends flows (normally of one exporter; rows may span windows and are split by the
    /// window of their `flow_start`, and by exporter if several are present).
    pub fn append(&mut self, batch: &RecordBatch) -> Result<AppendReport> {
        let mut report = AppendReport::default();
        let filing = split::Filing {
            window_ms: self.window_ms,
            now_ms: crate::clock::now_ms(),
            max_lateness_ms: duration_ms(self.cfg.max_lateness),
            max_lead_ms: duration_ms(self.cfg.max_lead),
        };
        for (exporter, start, part) in split::split(batch, &filing)? {
            self.append_to_window(exporter, start, &part, &mut report)?;
        }
        report.rows_misfiled = split::count_misdated(batch, &filing);
        Ok(report)
    }

    fn append_to_window(
        &mut self,
        exporter: Addr16,
        start: i64,
        batch: &RecordBatch,
        report: &mut AppendReport,
    ) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let room = self.room_in(exporter, start, report)?;
            let n = room.min(batch.num_rows() - offset);
            let piece = batch.slice(offset, n);
            let window = self
                .channels
                .get_mut(&exporter)
                .and_then(|c| c.get_mut(&start))
                .ok_or_else(|| crate::error::EngineError::BadBatch {
                    reason: "window vanished while appending".into(),
                })?;
            // The marker goes first: a snapshot that reads these rows from the log finds the
            // part through the index.
            if !window.outlier && split::leaves_hour(&piece, start) {
                let stem = stem_path(window.wal.path()).ok_or_else(|| crate::error::EngineError::BadBatch {
                    reason: "an open log without a window name".into(),
                })?;
                crate::outliers::mark(&stem)?;
                window.outlier = true;
            }
            window.wal.append(&piece)?;
            self.rows_appended += n as u64;
            self.batches_appended += 1;
            report.rows += n;
            offset += n;
            if window.wal.rows() >= self.cfg.segment_rows {
                self.queue_window(exporter, start)?;
                report.windows_queued += 1;
            }
        }
        Ok(())
    }

    /// Rows that still fit in the open part of a window, opening it (and sealing the oldest
    /// window of the channel if it has too many) when needed.
    fn room_in(&mut self, exporter: Addr16, start: i64, report: &mut AppendReport) -> Result<usize> {
        if let Some(w) = self.channels.get(&exporter).and_then(|c| c.get(&start)) {
            return Ok(self.cfg.segment_rows.saturating_sub(w.wal.rows()).max(1));
        }
        let open = self.channels.get(&exporter).map_or(0, BTreeMap::len);
        if open >= self.cfg.max_open_windows
            && let Some(oldest) = self.channels.get(&exporter).and_then(|c| c.keys().next().copied())
        {
            self.queue_window(exporter, oldest)?;
            report.windows_queued += 1;
        }
        if !self.indexed.contains(&exporter) {
            // Channels already stored were indexed at open: one without a complete index is new.
            let channel = channel_dir(&self.cfg.data_dir, &exporter);
            if !crate::outliers::is_complete(&channel) {
                crate::outliers::complete(&channel)?;
            }
            self.indexed.insert(exporter);
        }
        let dir = partition_dir(&self.cfg.data_dir, &exporter, start)?;
        let wal = create_log(&dir, start)?;
        sync_dir(&dir)?;
        self.channels
            .entry(exporter)
            .or_default()
            .insert(start, OpenWindow { wal, outlier: false });
        self.windows_opened += 1;
        report.windows_opened += 1;
        Ok(self.cfg.segment_rows)
    }

    /// Finishes a window's log and hands it to the seal thread.
    fn queue_window(&mut self, exporter: Addr16, start: i64) -> Result<()> {
        let Some(channel) = self.channels.get_mut(&exporter) else {
            return Ok(());
        };
        let Some(window) = channel.remove(&start) else {
            return Ok(());
        };
        if channel.is_empty() {
            self.channels.remove(&exporter);
        }
        let path = window.wal.finish()?;
        self.sealer.submit(path)
    }

    /// Periodic work: fsyncs open logs when the fsync interval has passed, and queues windows
    /// whose end plus grace is before `now_ms` (wall clock, ms since the epoch) for sealing.
    pub fn maintain(&mut self, now_ms: i64) -> Result<MaintainReport> {
        let mut report = MaintainReport::default();
        let due: Vec<(Addr16, i64)> = self
            .channels
            .iter()
            .flat_map(|(e, c)| c.keys().map(move |s| (*e, *s)))
            .filter(|(_, s)| now_ms >= s.saturating_add(self.window_ms).saturating_add(self.grace_ms))
            .collect();
        for (exporter, start) in due {
            self.queue_window(exporter, start)?;
            report.windows_queued += 1;
        }
        if self
            .last_sync_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= self.fsync_ms)
        {
            for window in self.channels.values_mut().flat_map(|c| c.values_mut()) {
                report.files_synced += usize::from(window.wal.sync()?);
            }
            self.last_sync_ms = Some(now_ms);
        }
        Ok(report)
    }

    /// Windows open now.
    pub fn open_windows(&self) -> usize {
        self.channels.values().map(BTreeMap::len).sum()
    }

    /// Seals every open window and waits until all sealing is finished.
    pub fn close(mut self) -> Result<CloseReport> {
        let open: Vec<(Addr16, i64)> = self
            .channels
            .iter()
            .flat_map(|(e, c)| c.keys().map(move |s| (*e, *s)))
            .collect();
        let windows_closed = open.len();
        for (exporter, start) in open {
            self.queue_window(exporter, start)?;
        }
        self.sealer.shutdown();
        Ok(CloseReport {
            windows_closed,
            stats: self.stats(),
        })
    }

    /// Counters since the store was opened.
    pub fn stats(&self) -> StoreStats {
        let c = self.sealer.counters();
        StoreStats {
            rows_appended: self.rows_appended,
            batches_appended: self.batches_appended,
            windows_opened: self.windows_opened,
            windows_queued: c.queued.load(Ordering::Relaxed),
            windows_sealed: c.sealed.load(Ordering::Relaxed),
            rows_sealed: c.rows.load(Ordering::Relaxed),
            parquet_bytes: c.parquet_bytes.load(Ordering::Relaxed),
            rollup_bytes: c.rollup_bytes.load(Ordering::Relaxed),
            rollup_errors: c.rollup_errors.load(Ordering::Relaxed),
            seal_errors: c.errors.load(Ordering::Relaxed),
            seal_queue_waits: c.queue_full_waits.load(Ordering::Relaxed),
            last_seal_error: c.last_error.lock().ok().and_then(|e| e.clone()),
            open_windows: self.open_windows(),
        }
    }
}

/// Creates the log of the next part of the window starting at `start` in `dir`, creating `dir`
/// first. A retention run may remove a directory it left empty between these steps (it never
/// removes one holding a file); the steps are then retried.
fn create_log(dir: &std::path::Path, start: i64) -> Result<WalWriter> {
    let mut retries = 2;
    loop {
        let attempt = ensure_dir(dir).and_then(|()| {
            let part = next_part(dir, start)?;
            let stem = dir.join(WindowName { start_ms: start, part }.stem()?);
            WalWriter::create(with_kind(&stem, FileKind::Wal))
        });
        match attempt {
            Err(crate::error::EngineError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && retries > 0 =>
            {
                retries -= 1;
            }
            other => return other,
        }
    }
}

/// A duration in whole milliseconds, saturating.
fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
