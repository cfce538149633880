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
