//! Query results as sqllogictest text: address columns as addresses (`10.0.0.1`), NULL as
//! `NULL`, other values as Arrow displays them; column types as `I` (integers), `R` (floats and
//! decimals) or `T` (the rest).
//!
//! A value spanning several lines (the plan of an `EXPLAIN`) becomes several result rows: the
//! first line stays in its row, each further line is a row of its own, indentation kept. Only
//! the last column may span lines, which is where `EXPLAIN` puts the plan.

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use engine::display::addresses_as_text;
use sqllogictest::DefaultColumnType;

/// The sqllogictest type of a column.
pub fn column_types(schema: &Schema) -> Vec<DefaultColumnType> {
    schema.fields().iter().map(|f| column_type(f.data_type())).collect()
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    match data_type {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() => DefaultColumnType::FloatingPoint,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            DefaultColumnType::FloatingPoint
        }
        _ => DefaultColumnType::Text,
    }
}

/// The rows of `batches` as text, multi-line values split into rows (see the module doc).
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let batch = addresses_as_text(batch).map_err(|e| e.to_string())?;
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            let values: Vec<String> = formatters.iter().map(|f| f.value(row).to_string()).collect();
            push_split(&mut out, values);
        }
    }
    Ok(out)
}

/// Pushes `values` as one row, or as several if its last value spans lines.
fn push_split(out: &mut Vec<Vec<String>>, mut values: Vec<String>) {
    let Some(last) = values.pop() else {
        out.push(values);
        return;
    };
    let mut lines = last.lines();
    values.push(lines.next().unwrap_or_default().to_string());
    out.push(values);
    out.extend(lines.map(|line| vec![line.to_string()]));
}
