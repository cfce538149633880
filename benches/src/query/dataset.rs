//! The data set both engines query: generated flows stored through `engine::FlowStore`, so the
//! Parquet files are exactly what a node seals. It is kept in the work directory with a marker
//! holding its settings, and reused by a later run with the same settings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use datasets::generator::{GenConfig, Generator};
use engine::{FlowBatchBuilder, FlowRecord, FlowStore, SortKey, StoreConfig};
use parquet::file::reader::{FileReader, SerializedFileReader};

/// End time of the first flow: 2026-01-01T00:00:00Z.
pub const START_MS: i64 = 1_767_225_600_000;
/// Flow end times are spread over one hour (flows start up to 60 s before they end).
pub const SPAN_MS: i64 = 3_600_000;
/// Flows per `FlowStore::append`.
const BATCH_ROWS: usize = 65_536;
/// Lateness and lead that file every generated flow in the window of its own `flow_start`,
/// whatever the wall clock says (about 100 years).
const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);
/// Name of the marker written once the data set is complete.
const MARKER: &str = "dataset.json";

/// What the data set is built from; a cached data set is reused only if this is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    /// Flows generated.
    pub flows: u64,
    /// Generator seed.
    pub seed: u64,
    /// Exporters (one channel each).
    pub exporters: usize,
    /// End time of the first flow, ms since the epoch.
    pub start_ms: i64,
    /// Spread of flow end times, ms.
    pub span_ms: i64,
    /// Rows per append.
    pub batch_rows: usize,
    /// Row order of the sealed files.
    pub sort: SortKey,
    /// Most rows per Parquet row group.
    pub row_group_rows: usize,
    /// Version of this builder: bump it when the way flows are stored changes.
    pub builder: u32,
    /// Identity of the harness binary (size and modification time): a rebuilt harness may
    /// carry a changed `engine`, whose files must then be sealed again.
    pub harness: String,
}

impl Spec {
    /// The data set of `flows` flows from `seed` over `exporters` exporters, stored with a
    /// node's default layout.
    pub fn new(flows: u64, seed: u64, exporters: usize) -> Spec {
        let store = StoreConfig::default();
        Spec {
            flows,
            seed,
            exporters,
            start_ms: START_MS,
            span_ms: SPAN_MS,
            batch_rows: BATCH_ROWS,
            sort: store.sort,
            row_group_rows: store.row_group_rows,
            builder: 1,
            harness: harness_identity(),
        }
    }

    /// The same flows with another layout of the sealed files.
    pub fn with_layout(self, sort: SortKey, row_group_rows: usize) -> Spec {
        Spec {
            sort,
            row_group_rows,
            ..self
        }
    }

    /// Whether the sealed files have a node's default layout.
    pub fn default_layout(&self) -> bool {
        let store = StoreConfig::default();
        self.sort == store.sort && self.row_group_rows == store.row_group_rows
    }
}

/// `SIZE-MTIME_NS` of the running executable (empty if unknown).
fn harness_identity() -> String {
    let meta = std::env::current_exe().and_then(std::fs::metadata);
    meta.ok()
        .and_then(|m| {
            let mtime = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(format!("{}-{}", m.len(), mtime.as_nanos()))
        })
        .unwrap_or_default()
}

/// A complete data set on disk.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The data directory (`flows/` inside).
    pub data_dir: PathBuf,
    /// What it was built from.
    pub spec: Spec,
    /// Sealed Parquet files.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Their row groups.
    pub row_groups: usize,
    /// Rows in their footers (equals `spec.flows`).
    pub rows: u64,
    /// Build time, or `None` when the cached data set was reused.
    pub built_in: Option<Duration>,
}

impl Dataset {
    /// The glob DuckDB reads: every sealed window of every channel.
    pub fn parquet_glob(&self) -> String {
        format!("{}/flows/**/*.parquet", self.data_dir.display())
    }
}

/// The data set of `spec` in `work_dir`: the cached one if its marker matches (and `rebuild` is
/// not set), else a freshly built one.
pub fn prepare(work_dir: &Path, spec: &Spec, rebuild: bool) -> anyhow::Result<Dataset> {
    std::fs::create_dir_all(work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
    let work_dir = work_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", work_dir.display()))?;
    let data_dir = work_dir.join("data");
    let marker = work_dir.join(MARKER);
    let cached = std::fs::read(&marker)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Spec>(&bytes).ok());
    let mut built_in = None;
    if rebuild || cached.as_ref() != Some(spec) || !data_dir.join("flows").is_dir() {
        // The marker goes first and comes back last, so an interrupted build is never reused.
        let _ = std::fs::remove_file(&marker);
        if data_dir.exists() {
            std::fs::remove_dir_all(&data_dir).with_context(|| format!("removing {}", data_dir.display()))?;
        }
        eprintln!("building the data set: {} flows in {}", spec.flows, data_dir.display());
        let started = Instant::now();
        build(&data_dir, spec)?;
        built_in = Some(started.elapsed());
        std::fs::write(&marker, serde_json::to_vec_pretty(spec)?)
            .with_context(|| format!("writing {}", marker.display()))?;
    } else {
        eprintln!("reusing the data set in {}", data_dir.display());
    }
    let (files, bytes, row_groups, rows) = inventory(&data_dir.join("flows"))?;
    if rows != spec.flows {
        bail!(
            "{} holds {rows} flows, expected {} (rerun with --rebuild)",
            data_dir.display(),
            spec.flows
        );
    }
    Ok(Dataset {
        data_dir,
        spec: spec.clone(),
        files,
        bytes,
        row_groups,
        rows,
        built_in,
    })
}

/// Generates the flows of `spec` and stores them in `data_dir`, sealing every window.
fn build(data_dir: &Path, spec: &Spec) -> anyhow::Result<()> {
    let mut generator = Generator::new(GenConfig {
        seed: spec.seed,
        exporters: spec.exporters,
        flows: spec.flows,
        start_ms: spec.start_ms,
        span_ms: spec.span_ms,
        ..GenConfig::default()
    })?;
    let (mut store, _) = FlowStore::open(StoreConfig {
        data_dir: data_dir.to_path_buf(),
        // Nothing to lose on a crash here: the build restarts from scratch.
        fsync_interval: Duration::from_secs(24 * 3600),
        max_lateness: FAR,
        max_lead: FAR,
        sort: spec.sort,
        row_group_rows: spec.row_group_rows,
        ..StoreConfig::default()
    })?;
    let mut records = vec![FlowRecord::default(); spec.batch_rows];
    let mut builder = FlowBatchBuilder::with_capacity(spec.batch_rows);
    let mut stored = 0u64;
    let mut next_note = 1_000_000;
    loop {
        let n = generator.fill(&mut records);
        if n == 0 {
            break;
        }
        for record in &records[..n] {
            builder.append(record);
        }
        let report = store.append(&builder.finish())?;
        if report.rows_misfiled > 0 {
            bail!("{} flows were filed outside their own window", report.rows_misfiled);
        }
        stored += n as u64;
        if stored >= next_note {
            eprintln!("  {stored} flows stored");
            next_note += 1_000_000;
        }
    }
    let report = store.close()?;
    if report.stats.seal_errors > 0 || report.stats.rows_sealed != spec.flows {
        bail!(
            "sealing failed: {} of {} rows sealed, {} errors ({:?})",
            report.stats.rows_sealed,
            spec.flows,
            report.stats.seal_errors,
            report.stats.last_seal_error
        );
    }
    Ok(())
}

/// Files, bytes, row groups and rows of every `*.parquet` under `dir`.
pub fn inventory(dir: &Path) -> anyhow::Result<(usize, u64, usize, u64)> {
    let mut paths = Vec::new();
    collect_parquet(dir, &mut paths)?;
    let (mut bytes, mut row_groups, mut rows) = (0, 0, 0);
    for path in &paths {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        bytes += file.metadata()?.len();
        let reader = SerializedFileReader::new(file).with_context(|| format!("reading {}", path.display()))?;
        row_groups += reader.metadata().num_row_groups();
        rows += u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
    }
    Ok((paths.len(), bytes, row_groups, rows))
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_parquet(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_data_set_is_built_once_and_then_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = Spec::new(20_000, 7, 2);
        let first = prepare(dir.path(), &spec, false).expect("built");
        assert!(first.built_in.is_some());
        assert_eq!(first.rows, 20_000);
        assert!(first.files >= 2 && first.bytes > 0 && first.row_groups >= first.files);
        let again = prepare(dir.path(), &spec, false).expect("reused");
        assert!(again.built_in.is_none());
        assert_eq!((again.files, again.bytes), (first.files, first.bytes));
        let other = prepare(dir.path(), &Spec::new(10_000, 7, 2), false).expect("rebuilt");
        assert!(other.built_in.is_some());
        assert_eq!(other.rows, 10_000);
    }
}
