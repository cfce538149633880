//! Showing flows to people: address columns become text (`10.0.0.1`, `2001:db8::1`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};

use crate::addr::{ADDR_WIDTH, to_text};
use crate::error::Result;

/// `true` if a column of this type holds addresses in our 16-byte form.
fn is_addr_type(data_type: &DataType) -> bool {
    *data_type == DataType::FixedSizeBinary(ADDR_WIDTH)
}

/// Turns one 16-byte address column into text (nulls stay null).
pub fn addr_column_to_text(column: &dyn Array) -> ArrayRef {
    let addrs = column.as_fixed_size_binary();
    let mut out = StringBuilder::with_capacity(addrs.len(), addrs.len() * 15);
    for i in 0..addrs.len() {
        if addrs.is_null(i) {
            out.append_null();
        } else {
            out.append_option(to_text(addrs.value(i)));
        }
    }
    Arc::new(out.finish())
}

/// The batch with every 16-byte binary column shown as address text.
pub fn addresses_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| is_addr_type(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if is_addr_type(field.data_type()) {
            fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
            columns.push(addr_column_to_text(column.as_ref()));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::from_ip;
    use crate::{FlowBatchBuilder, FlowRecord};

    #[test]
    fn addresses_become_text_and_nulls_stay() {
        let mut b = FlowBatchBuilder::with_capacity(2);
        b.append(&FlowRecord {
            exporter: from_ip("127.0.0.1".parse().unwrap()),
            src_addr: Some(from_ip("2001:db8::5".parse().unwrap())),
            ..Default::default()
        });
        b.append(&FlowRecord {
            exporter: from_ip("127.0.0.1".parse().unwrap()),
            ..Default::default()
        });
        let shown = addresses_as_text(&b.finish()).unwrap();
        let src = shown.column_by_name("src_addr").unwrap().as_string::<i32>();
        assert_eq!(src.value(0), "2001:db8::5");
        assert!(src.is_null(1));
        let exporter = shown.column_by_name("exporter").unwrap().as_string::<i32>();
        assert_eq!(exporter.value(1), "127.0.0.1");
    }
}
