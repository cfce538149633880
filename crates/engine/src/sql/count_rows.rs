//! The optimizer rule that answers `count(*)` over a whole flow table from its files' footers,
//! remembered between queries ([`RowCounts`]), plus the rows of the open windows: the way a
//! slave counts for a master (see the planner's `count_rows`), on a node's own session.
//!
//! DataFusion would take the count from the Parquet statistics of every file, read again for
//! each query once there are more files than its statistics cache holds (a month of retention:
//! about 70,000 files, 10 s and more), or the rollup rule from every rollup's footer.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::default_table_source::{provider_as_source, source_as_provider};
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, TableReference};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableType};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;

use super::rollup::is_count_star;
use super::table::FlowsTable;
use crate::row_counts::RowCounts;

/// Name of the counting table's one column.
const ROWS: &str = "rows";

/// Rewrites `Aggregate(count(*), ...)` without GROUP BY directly over a [`FlowsTable`] scan
/// without conditions into a scan of the table's row count.
#[derive(Debug, Default)]
pub struct CountFromFooters {
    counts: Arc<RowCounts>,
}

impl OptimizerRule for CountFromFooters {
    fn name(&self) -> &str {
        "count_from_footers"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if !aggregate.group_expr.is_empty() || !aggregate.aggr_expr.iter().all(is_count_star) {
            return Ok(Transformed::no(plan));
        }
        let mut input = aggregate.input.as_ref();
        while let LogicalPlan::Projection(p) = input {
            input = &p.input;
        }
        let LogicalPlan::TableScan(scan) = input else {
            return Ok(Transformed::no(plan));
        };
        if !scan.filters.is_empty() || scan.fetch.is_some() {
            return Ok(Transformed::no(plan));
        }
        let provider = source_as_provider(&scan.source)?;
        let Some(flows) = provider.downcast_ref::<FlowsTable>() else {
            return Ok(Transformed::no(plan));
        };
        let table = FlowCount {
            flows: flows.clone(),
            counts: Arc::clone(&self.counts),
        };
        let name = TableReference::bare(format!("{}_count", scan.table_name.table()));
        let rows = Expr::Column(Column::new(Some(name.clone()), ROWS));
        let outputs = aggregate.schema.fields().iter().map(|f| rows.clone().alias(f.name()));
        let counted = LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(table)), None)?
            .project(outputs)?
            .build()?;
        Ok(Transformed::yes(counted))
    }
}

/// A flow table's row count as a one-row table, counted when a query plans its scan.
#[derive(Debug)]
struct FlowCount {
    flows: FlowsTable,
    counts: Arc<RowCounts>,
}

fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(ROWS, DataType::Int64, false)]))
}

#[async_trait::async_trait]
impl TableProvider for FlowCount {
    fn schema(&self) -> SchemaRef {
        count_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.flows.count_rows(Arc::clone(&self.counts)).await?;
        let rows = i64::try_from(rows).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batch = RecordBatch::try_new(count_schema(), vec![Arc::new(Int64Array::from(vec![rows]))])?;
        MemTable::try_new(count_schema(), vec![vec![batch]])?
            .scan(state, projection, &[], None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    use crate::addr::from_v4_u32;
    use crate::clock::now_ms;
    use crate::sql::{QueryResources, flow_session};
    use crate::{FlowBatchBuilder, FlowRecord, FlowStore, StoreConfig};

    /// `n` flows of exporter 10.0.0.`e`, one a second back from now, every third TCP.
    fn append(store: &mut FlowStore, e: u32, n: usize) {
        let now = now_ms();
        let mut b = FlowBatchBuilder::with_capacity(n);
        for i in 0..n {
            b.append(&FlowRecord {
                flow_start: now - 1_000 * i as i64,
                exporter: from_v4_u32(0x0a00_0000 + e),
                protocol: Some(if i % 3 == 0 { 6 } else { 17 }),
                ..FlowRecord::default()
            });
        }
        store.append(&b.finish()).unwrap();
    }

    async fn text(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    /// The one integer a query returns.
    async fn number(ctx: &SessionContext, sql: &str) -> i64 {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let column = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        column.value(0)
    }

    #[tokio::test]
    async fn a_whole_table_is_counted_from_footers_and_open_windows_at_each_query() {
        let tmp = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            fsync_interval: std::time::Duration::ZERO,
            ..StoreConfig::new(tmp.path())
        };
        let (mut store, _) = FlowStore::open(config.clone()).unwrap();
        append(&mut store, 1, 600);
        append(&mut store, 2, 90);
        store.close().unwrap();
        let (mut store, _) = FlowStore::open(config).unwrap();
        append(&mut store, 1, 30);
        let ctx = flow_session(tmp.path(), &QueryResources::default(), None).unwrap();

        let plan = text(&ctx, "EXPLAIN SELECT count(*) AS n FROM flows").await;
        assert!(plan.contains("flows_count"), "{plan}");
        assert_eq!(number(&ctx, "SELECT count(*) AS n FROM flows").await, 720);
        let both = text(&ctx, "SELECT count(*) AS a, count(1) AS b FROM flows").await;
        assert!(both.contains("| 720 | 720 |"), "{both}");
        assert_eq!(number(&ctx, "SELECT count(*) FROM exporter_10_0_0_2").await, 90);

        append(&mut store, 2, 10);
        assert_eq!(number(&ctx, "SELECT count(*) FROM flows").await, 730, "counted again");

        // A condition needs the rows: the rule leaves the query alone.
        let tcp = "SELECT count(*) FROM flows WHERE protocol = 6";
        assert!(!text(&ctx, &format!("EXPLAIN {tcp}")).await.contains("flows_count"));
        assert_eq!(number(&ctx, tcp).await, 200 + 30 + 10 + 4);
        store.close().unwrap();
    }
}
