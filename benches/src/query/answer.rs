//! Query answers in one comparable form: rows of text cells, with addresses (16 raw bytes) as
//! lower-case hex and integers in decimal, whichever engine produced them.

use anyhow::{Context, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::array_value_to_string;

/// One result row.
pub type Row = Vec<String>;

/// The rows of Arrow batches (flowfold's answer).
pub fn from_batches(batches: &[RecordBatch]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .map(|column| cell(column.as_ref(), i))
                .collect::<anyhow::Result<Row>>()?;
            rows.push(row);
        }
    }
    Ok(rows)
}

fn cell(column: &dyn Array, i: usize) -> anyhow::Result<String> {
    if column.is_null(i) {
        return Ok("NULL".into());
    }
    Ok(match column.data_type() {
        DataType::FixedSizeBinary(_) => hex(column.as_fixed_size_binary().value(i)),
        DataType::Binary => hex(column.as_binary::<i32>().value(i)),
        DataType::UInt8 => column.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => column.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => column.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(i).to_string(),
        DataType::Int8 => column.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => column.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => column.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(i).to_string(),
        _ => array_value_to_string(column, i)?,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The rows of the DuckDB driver's JSON (`[["hex or decimal", ...], ...]`).
pub fn from_json(value: &serde_json::Value) -> anyhow::Result<Vec<Row>> {
    let rows = value.as_array().context("rows are not a JSON array")?;
    rows.iter()
        .map(|row| {
            row.as_array()
                .context("a row is not a JSON array")?
                .iter()
                .map(|c| c.as_str().map(str::to_string).context("a cell is not a string"))
                .collect()
        })
        .collect()
}

/// Fails, showing both answers, unless they are equal.
pub fn check(query: &str, flowfold: &[Row], duckdb: &[Row]) -> anyhow::Result<()> {
    if flowfold == duckdb {
        return Ok(());
    }
    bail!(
        "the engines disagree on {query}:\n  flowfold: {}\n  DuckDB:   {}",
        show(flowfold),
        show(duckdb)
    )
}

/// Rows as `a=1, b=2; …` with addresses as text, for messages and the report.
pub fn show(rows: &[Row]) -> String {
    rows.iter()
        .map(|row| row.iter().map(|c| readable(c)).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A 32-digit hex cell as an IP address, anything else unchanged.
pub fn readable(cell: &str) -> String {
    if cell.len() == 32 && cell.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Vec<u8> = (0..16)
            .filter_map(|i| u8::from_str_radix(&cell[2 * i..2 * i + 2], 16).ok())
            .collect();
        if let Some(text) = engine::addr::to_text(&bytes) {
            return text;
        }
    }
    cell.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{FixedSizeBinaryArray, Int64Array, UInt64Array};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn arrow_and_json_answers_compare_alike() {
        let mut v4 = [0u8; 16];
        v4[10] = 0xff;
        v4[11] = 0xff;
        v4[12..].copy_from_slice(&[10, 0, 0, 1]);
        let addrs = FixedSizeBinaryArray::try_from_iter([v4].into_iter()).expect("addresses");
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::FixedSizeBinary(16), true),
            Field::new("b", DataType::UInt64, true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(addrs), Arc::new(UInt64Array::from(vec![42u64]))])
            .expect("batch");
        let ours = from_batches(&[batch]).expect("rows");
        let theirs = from_json(&serde_json::json!([["00000000000000000000ffff0a000001", "42"]])).expect("rows");
        assert!(check("q", &ours, &theirs).is_ok());
        assert_eq!(show(&ours), "10.0.0.1 42");
        let other = from_json(&serde_json::json!([["00000000000000000000ffff0a000001", "43"]])).expect("rows");
        assert!(check("q", &ours, &other).is_err());
    }

    #[test]
    fn counts_are_decimal_and_nulls_are_marked() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![Some(7), None]))]).expect("batch");
        assert_eq!(from_batches(&[batch]).expect("rows"), vec![vec!["7"], vec!["NULL"]]);
    }
}
