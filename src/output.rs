//! Printing query results as a table, CSV or JSON lines, with addresses as text.

use arrow::array::RecordBatch;
use clap::ValueEnum;

/// Output format of query results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
}

/// Milliseconds since the epoch as RFC 3339 UTC text to the second (`None` before 1970).
pub fn utc_seconds(ms: i64) -> Option<String> {
    let ms = u64::try_from(ms).ok()?;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    Some(humantime::format_rfc3339_seconds(t).to_string())
}

/// Writes `batches` to stdout in `format`.
pub fn print(batches: &[RecordBatch], format: Format) -> anyhow::Result<()> {
    let shown = batches
        .iter()
        .map(engine::display::addresses_as_text)
        .collect::<Result<Vec<_>, _>>()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            use std::io::Write;
            writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(&shown)?)?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for batch in &shown {
                writer.write(batch)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut out);
            for batch in &shown {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}
