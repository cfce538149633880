//! Test fixture of the function tests: a session with the flow functions registered and a
//! `MemTable` `t` of v4, v6 and null addresses, and helpers to run SQL against it.
//!
//! | id | addr                   | proto | cidr               | plen |
//! |----|------------------------|-------|--------------------|------|
//! | 0  | 10.0.0.1               | 6     | 10.0.0.0/8         | 24   |
//! | 1  | 10.1.2.3               | 17    | 10.0.0.0/16        | 8    |
//! | 2  | 192.168.1.1            | 1     | 192.168.1.1        | 32   |
//! | 3  | 2001:db8::1            | 58    | 2001:db8::/32      | 48   |
//! | 4  | 2001:db8:1234:5678::9  | 47    | 2001:db8:1234::/48 | 128  |
//! | 5  | ::a00:1                | 200   | 10.0.0.0/8         | 96   |
//! | 6  | NULL                   | NULL  | NULL               | 16   |

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, FixedSizeBinaryArray, Int32Array, RecordBatch, StringArray, UInt8Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::ip_parse::addr_return_field;
use super::register_flow_functions;
use crate::addr::{from_ip, to_text};

/// The addresses of `t.addr`, in row order.
pub(crate) const ADDRS: [Option<&str>; 7] = [
    Some("10.0.0.1"),
    Some("10.1.2.3"),
    Some("192.168.1.1"),
    Some("2001:db8::1"),
    Some("2001:db8:1234:5678::9"),
    Some("::a00:1"),
    None,
];

/// A session with the flow functions and table `t` (see the module docs).
pub(crate) fn test_context() -> SessionContext {
    let ctx = SessionContext::new();
    register_flow_functions(&ctx);
    let schema = Arc::new(Schema::new(vec![
        Arc::new(Field::new("id", DataType::Int32, false)),
        addr_return_field("addr", true),
        Arc::new(Field::new("proto", DataType::UInt8, true)),
        Arc::new(Field::new("cidr", DataType::Utf8, true)),
        Arc::new(Field::new("plen", DataType::UInt8, true)),
    ]));
    let addrs = ADDRS.map(|a| a.map(|text| from_ip(text.parse().unwrap())));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(0..7)),
        Arc::new(FixedSizeBinaryArray::try_from_sparse_iter_with_size(addrs.into_iter(), 16).unwrap()),
        Arc::new(UInt8Array::from(vec![
            Some(6),
            Some(17),
            Some(1),
            Some(58),
            Some(47),
            Some(200),
            None,
        ])),
        Arc::new(StringArray::from(vec![
            Some("10.0.0.0/8"),
            Some("10.0.0.0/16"),
            Some("192.168.1.1"),
            Some("2001:db8::/32"),
            Some("2001:db8:1234::/48"),
            Some("10.0.0.0/8"),
            None,
        ])),
        Arc::new(UInt8Array::from(vec![24, 8, 32, 48, 128, 96, 16])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()))
        .unwrap();
    ctx
}

/// Runs `sql`, panicking on error.
pub(crate) async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    match ctx.sql(sql).await {
        Ok(df) => df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}")),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Runs `sql`, which must fail; returns the error's text.
pub(crate) async fn query_err(ctx: &SessionContext, sql: &str) -> String {
    let result = match ctx.sql(sql).await {
        Ok(df) => df.collect().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => panic!("{sql}: expected an error"),
        Err(e) => e.to_string(),
    }
}

/// The first column of the result of `sql`, as text (addresses as [`to_text`] shows them).
pub(crate) async fn column_text(ctx: &SessionContext, sql: &str) -> Vec<Option<String>> {
    query(ctx, sql)
        .await
        .iter()
        .flat_map(|batch| {
            let column = batch.column(0);
            if let Some(addrs) = column.as_fixed_size_binary_opt() {
                return addrs.iter().map(|a| a.map(|a| to_text(a).unwrap())).collect::<Vec<_>>();
            }
            let text = cast(column, &DataType::Utf8).unwrap();
            text.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
        })
        .collect()
}

/// The rows `(plan_type, plan)` of `EXPLAIN sql`.
pub(crate) async fn explain(ctx: &SessionContext, sql: &str) -> Vec<(String, String)> {
    query(ctx, &format!("EXPLAIN {sql}"))
        .await
        .iter()
        .flat_map(|batch| {
            let kinds = batch.column(0).as_string::<i32>();
            let plans = batch.column(1).as_string::<i32>();
            (0..batch.num_rows())
                .map(|i| (kinds.value(i).to_string(), plans.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}
