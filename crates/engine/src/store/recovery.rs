//! Recovery at open: seal every log a crash left behind and clean up interrupted seals.

use super::seal::{SealSettings, seal_file};
use super::wal::WalReadBuffer;
use crate::error::{EngineError, Result};
use crate::layout::{FileKind, list_files, stem_path, with_kind};
use crate::rollup::{PartSet, RollupFile};
use std::path::Path;

/// What recovery found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Logs (`.arrows`) found.
    pub wal_files: usize,
    /// Rows recovered from them and sealed.
    pub rows_recovered: usize,
    /// Bytes of torn tails cut off.
    pub bytes_cut: u64,
    /// Windows sealed.
    pub windows_sealed: usize,
    /// Logs deleted because their Parquet file already existed (crash between rename and delete).
    pub duplicates_removed: usize,
    /// Stray `.parquet.tmp` and `.rollup.tmp` files deleted.
    pub tmp_removed: usize,
    /// Rollups deleted because their part is gone.
    pub rollups_removed: usize,
    /// Logs without the flow schema, set aside as `.arrows.bad`.
    pub bad_files: usize,
    /// Channels written before the outlier index existed, indexed now (see [`crate::outliers`]).
    pub channels_indexed: usize,
}

/// Recovers the flow table under `data_dir`.
pub(crate) fn recover(data_dir: &Path, settings: &SealSettings) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let mut reader = WalReadBuffer::default();
    let mut rollups = Vec::new();
    for (kind, path) in list_files(data_dir)? {
        match kind {
            FileKind::SealTmp => {
                std::fs::remove_file(&path).map_err(EngineError::io("remove stray seal", &path))?;
                report.tmp_removed += 1;
            }
            FileKind::Wal => {
                report.wal_files += 1;
                let outcome = seal_file(&path, settings, &mut reader)?;
                report.rows_recovered += outcome.rows;
                report.bytes_cut += outcome.bytes_cut;
                report.windows_sealed += usize::from(outcome.rows > 0);
                report.duplicates_removed += usize::from(outcome.duplicate);
                report.bad_files += usize::from(outcome.bad);
                if outcome.bytes_cut > 0 {
                    tracing::warn!(path = %path.display(), bytes_cut = outcome.bytes_cut,
                        "recovered a torn write-ahead log");
                }
            }
            FileKind::Rollup => rollups.push(path),
            // Retention markers are retention's business (a marker never shares a stem with a log).
            FileKind::Sealed | FileKind::Expired => {}
        }
    }
    // Rollups whose part is gone: written by a seal that crashed before its rename (and was not
    // sealed again with the same span), or left by a retention run that stopped half-way.
    // Hourly rollups have no part of their own; a stale one is never read and is replaced.
    for path in rollups {
        if RollupFile::parse(&path).is_some_and(|r| PartSet::of_rollup(&r).is_some()) {
            continue;
        }
        let Some(stem) = stem_path(&path) else { continue };
        if !with_kind(&stem, FileKind::Sealed).exists() {
            std::fs::remove_file(&path).map_err(EngineError::io("remove stray rollup", &path))?;
            report.rollups_removed += 1;
        }
    }
    report.channels_indexed = crate::outliers::index_old_channels(data_dir)?;
    Ok(report)
}
