//! The ground truth of a run: the records a correct collector must store, as Parquet in the
//! engine's flow schema, plus a small JSON summary (flows, packets and bytes per exporter).
//!
//! The sender pushes each flow as the decoder must see it (`Encoder::expected`, with the bound
//! source address as exporter); tests that do not encode push the generated records directly.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use engine::{FlowBatchBuilder, FlowRecord, flow_schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::generator::{DatasetError, ExportFormat, ExporterSpec};

/// Rows per Parquet row group (and per in-memory batch).
const BATCH_ROWS: usize = 65_536;

/// Flow, packet and byte totals of one exporter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExporterTotals {
    /// Exporter address as text (`127.0.1.1`).
    pub exporter: String,
    /// Export format it spoke.
    pub format: ExportFormat,
    /// Its observation domain.
    pub observation_domain: u32,
    /// Flows recorded.
    pub flows: u64,
    /// Sum of `packets` (nulls count 0).
    pub packets: u64,
    /// Sum of `bytes` (nulls count 0).
    pub bytes: u64,
}

/// Totals of a whole run, written beside the Parquet file as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TruthSummary {
    /// Flows over all exporters.
    pub flows: u64,
    /// Packets over all exporters.
    pub packets: u64,
    /// Bytes over all exporters.
    pub bytes: u64,
    /// Per exporter, by index.
    pub exporters: Vec<ExporterTotals>,
}

impl TruthSummary {
    /// Empty totals for these exporters.
    pub fn new(exporters: &[ExporterSpec]) -> Self {
        let exporters = exporters
            .iter()
            .map(|e| ExporterTotals {
                exporter: e.addr.to_string(),
                format: e.format,
                observation_domain: e.observation_domain,
                flows: 0,
                packets: 0,
                bytes: 0,
            })
            .collect();
        Self {
            flows: 0,
            packets: 0,
            bytes: 0,
            exporters,
        }
    }

    /// Counts one record for exporter `index`.
    pub fn add(&mut self, index: usize, rec: &FlowRecord) -> Result<(), DatasetError> {
        let count = self.exporters.len();
        let t = self
            .exporters
            .get_mut(index)
            .ok_or(DatasetError::UnknownExporter { index, count })?;
        let (p, b) = (rec.packets.unwrap_or(0), rec.bytes.unwrap_or(0));
        t.flows += 1;
        t.packets += p;
        t.bytes += b;
        self.flows += 1;
        self.packets += p;
        self.bytes += b;
        Ok(())
    }

    /// Reads a summary written by [`TruthWriter::finish`].
    pub fn read(path: &Path) -> Result<Self, DatasetError> {
        let file = File::open(path).map_err(DatasetError::io("open", path))?;
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|source| DatasetError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Where the JSON summary of a truth file goes: `truth.parquet` -> `truth.json`.
pub fn summary_path(parquet: &Path) -> PathBuf {
    if parquet.extension().is_some_and(|e| e == "json") {
        let mut name = parquet.as_os_str().to_owned();
        name.push(".summary.json");
        PathBuf::from(name)
    } else {
        parquet.with_extension("json")
    }
}

/// Writes ground-truth records to Parquet (zstd) and keeps the totals.
pub struct TruthWriter {
    path: PathBuf,
    writer: ArrowWriter<File>,
    builder: FlowBatchBuilder,
    summary: TruthSummary,
}

impl std::fmt::Debug for TruthWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TruthWriter")
            .field("path", &self.path)
            .field("flows", &self.summary.flows)
            .finish()
    }
}

impl TruthWriter {
    /// Creates (or truncates) `path` for the given exporters.
    pub fn create(path: &Path, exporters: &[ExporterSpec]) -> Result<Self, DatasetError> {
        let file = File::create(path).map_err(DatasetError::io("create", path))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(BATCH_ROWS))
            .build();
        let writer =
            ArrowWriter::try_new(file, flow_schema(), Some(props)).map_err(|source| DatasetError::Parquet {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            builder: FlowBatchBuilder::with_capacity(BATCH_ROWS),
            summary: TruthSummary::new(exporters),
        })
    }

    /// Records one flow of exporter `index`, exactly as a collector must store it.
    pub fn push(&mut self, index: usize, rec: &FlowRecord) -> Result<(), DatasetError> {
        self.summary.add(index, rec)?;
        self.builder.append(rec);
        if self.builder.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// The totals so far.
    pub fn summary(&self) -> &TruthSummary {
        &self.summary
    }

    fn flush(&mut self) -> Result<(), DatasetError> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.finish();
        self.writer.write(&batch).map_err(|source| DatasetError::Parquet {
            path: self.path.clone(),
            source,
        })
    }

    /// Closes the Parquet file, writes the JSON summary beside it and returns the totals.
    pub fn finish(mut self) -> Result<TruthSummary, DatasetError> {
        self.flush()?;
        self.writer.close().map_err(|source| DatasetError::Parquet {
            path: self.path.clone(),
            source,
        })?;
        let json_path = summary_path(&self.path);
        let file = File::create(&json_path).map_err(DatasetError::io("create", &json_path))?;
        serde_json::to_writer_pretty(file, &self.summary).map_err(|source| DatasetError::Json {
            path: json_path.clone(),
            source,
        })?;
        Ok(self.summary)
    }
}

/// Reads a truth file back as flow-schema batches.
pub fn read(path: &Path) -> Result<Vec<RecordBatch>, DatasetError> {
    let parquet = |source: ParquetError| DatasetError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(DatasetError::io("open", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet)?
        .build()
        .map_err(parquet)?;
    reader.map(|b| b.map_err(|e| parquet(ParquetError::from(e)))).collect()
}
