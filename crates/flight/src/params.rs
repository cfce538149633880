//! Parameters of prepared statements: the schema a client is told to bind (`$1`, `$2`... in
//! order), and the values it bound (one row of a record batch, one column per parameter).

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use tonic::Status;

use crate::error::{QueryError, to_status};

/// The schema of a plan's parameters: one nullable field per placeholder, by position
/// (`$1` first); a type DataFusion could not infer is `Null` (any value is accepted).
pub fn parameter_schema(plan: &LogicalPlan) -> Result<Schema, Status> {
    let types = plan.get_parameter_types().map_err(|e| to_status(&QueryError::Sql(e)))?;
    let mut named: Vec<(usize, String, DataType)> = types
        .into_iter()
        .map(|(name, t)| {
            let position = name.trim_start_matches('$').parse::<usize>().unwrap_or(usize::MAX);
            (position, name, t.unwrap_or(DataType::Null))
        })
        .collect();
    named.sort();
    Ok(Schema::new(
        named
            .into_iter()
            .map(|(_, name, t)| Field::new(name, t, true))
            .collect::<Vec<_>>(),
    ))
}

/// The values a client bound: exactly one row, the columns in parameter order.
pub fn params_from_batch(batches: &[RecordBatch]) -> Result<ParamValues, QueryError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows != 1 {
        return Err(QueryError::BadRequest(format!(
            "bind exactly one row of parameters per execution (got {rows})"
        )));
    }
    let Some(batch) = batches.iter().find(|b| b.num_rows() == 1) else {
        return Err(QueryError::BadRequest("no parameter row".into()));
    };
    let values = batch
        .columns()
        .iter()
        .map(|column| ScalarValue::try_from_array(column, 0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ParamValues::from(values))
}

/// Casts bound values to the types the plan expects where DataFusion inferred one (a client's
/// Python `443` is Int64, `dst_port = $1` wants UInt16); a value that does not fit is an error
/// naming the parameter.
pub fn cast_to_plan(plan: &LogicalPlan, params: ParamValues) -> Result<ParamValues, QueryError> {
    let ParamValues::List(mut values) = params else {
        return Ok(params);
    };
    let types = plan.get_parameter_types()?;
    for (i, value) in values.iter_mut().enumerate() {
        let name = format!("${}", i + 1);
        let Some(Some(want)) = types.get(&name) else { continue };
        if value.value.data_type() != *want {
            value.value = value.value.cast_to(want).map_err(|e| {
                QueryError::BadRequest(format!("parameter {name} ({}) does not fit {want}: {e}", value.value))
            })?;
        }
    }
    Ok(ParamValues::List(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn one_row_binds_in_column_order_and_other_counts_are_refused() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("$1", DataType::Int64, true),
            Field::new("$2", DataType::Utf8, true),
        ]));
        let row = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![443])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let ParamValues::List(values) = params_from_batch(std::slice::from_ref(&row)).unwrap() else {
            panic!("positional parameters expected");
        };
        assert_eq!(values[0].value, ScalarValue::Int64(Some(443)));
        let two = arrow::compute::concat_batches(&schema, [&row, &row]).unwrap();
        assert!(params_from_batch(&[two]).is_err());
        assert!(params_from_batch(&[]).is_err());
    }
}
