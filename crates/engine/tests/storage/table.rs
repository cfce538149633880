//! The `flows` table over sealed and open windows.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::prelude::SessionContext;
use engine::{FlowStore, register_flows};

use crate::common::*;

async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

#[tokio::test]
async fn count_and_sum_over_sealed_and_open_windows_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    store.append(&flows(1, T0, 100, 1000)).unwrap();
    store.append(&flows(2, T0, 100, 300)).unwrap();
    assert_eq!(store.close().unwrap().stats.rows_sealed, 1300);
    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    store.append(&flows(1, T0 + W, 100, 200)).unwrap(); // open
    store.append(&flows(1, T0, 1, 50)).unwrap(); // late: open part of a sealed window

    let ctx = SessionContext::new();
    register_flows(&ctx, dir.path()).await.unwrap();
    let out = query(&ctx, "SELECT count(*) AS n, sum(bytes) AS b FROM flows").await;
    let n = out[0].column(0).as_primitive::<Int64Type>().value(0);
    let b = out[0].column(1).as_primitive::<UInt64Type>().value(0);
    let tri = |k: u64| k * (k + 1) / 2;
    assert_eq!(n, 1550);
    assert_eq!(b, tri(1000) + tri(300) + tri(200) + tri(50));

    // A filter on time prunes nothing wrongly.
    let cut = T0 + W;
    let out = query(
        &ctx,
        &format!("SELECT count(*) FROM flows WHERE flow_start >= to_timestamp_millis({cut})"),
    )
    .await;
    assert_eq!(out[0].column(0).as_primitive::<Int64Type>().value(0), 200);

    // The table keeps the flow schema: no partition columns.
    let df = ctx.table("flows").await.unwrap();
    let names: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    let want: Vec<String> = engine::flow_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, want);
    store.close().unwrap();
}

#[tokio::test]
async fn an_empty_data_dir_is_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = SessionContext::new();
    register_flows(&ctx, dir.path()).await.unwrap();
    let out = query(&ctx, "SELECT count(*) FROM flows").await;
    assert_eq!(out[0].column(0).as_primitive::<Int64Type>().value(0), 0);
}

/// Sealed files' statistics are computed once per session and kept (the listing tables are made
/// per query), and a count answered from them follows newly sealed windows.
#[tokio::test]
async fn file_statistics_are_kept_between_queries_and_follow_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    store.append(&flows(1, T0, 100, 1000)).unwrap();
    store.append(&flows(2, T0, 100, 300)).unwrap();
    store.close().unwrap();

    let ctx = SessionContext::new();
    register_flows(&ctx, dir.path()).await.unwrap();
    let cache = ctx.runtime_env().cache_manager.get_file_statistic_cache().unwrap();
    let count = |out: Vec<RecordBatch>| out[0].column(0).as_primitive::<Int64Type>().value(0);
    assert_eq!(count(query(&ctx, "SELECT count(*) FROM flows").await), 1300);
    assert_eq!(cache.len(), 2);

    let (mut store, _) = FlowStore::open(config(dir.path())).unwrap();
    store.append(&flows(1, T0 + W, 100, 200)).unwrap();
    store.close().unwrap();
    assert_eq!(count(query(&ctx, "SELECT count(*) FROM flows").await), 1500);
    assert_eq!(cache.len(), 3);
}
