//! A rollup as a table: the rollup rows of the sealed parts a query's time range takes whole,
//! and one row per flow (`flows` = 1) of everything else, so that summing either gives the
//! answer over the flows.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::Result;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType, col};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;

use super::bounds::{TimeRange, is_time_bound};
use crate::rollup::{FLOWS_COL, ROLLUP_EXT, RollupKind, SumLevel};
use crate::schema::{col as flow_col, flow_schema, timestamp_type};
use crate::sql::channels::channels_for_filters;
use crate::sql::table::{FlowsTable, file_statistics_cache, open_table, sealed_table};

/// The rollup of `kind` over the channels of a [`FlowsTable`], with the columns of
/// [`rollup_table_schema`].
#[derive(Debug, Clone)]
pub struct RollupTable {
    flows: FlowsTable,
    kind: RollupKind,
    schema: SchemaRef,
}

impl RollupTable {
    /// The rollup of `kind` over `flows`.
    pub fn new(flows: FlowsTable, kind: RollupKind) -> RollupTable {
        RollupTable {
            flows,
            kind,
            schema: rollup_table_schema(kind),
        }
    }
}

/// The columns of a rollup table of `kind`: the rollup's and `flow_start`, which only
/// conditions may name (they are applied exactly, per part; reading it gives nulls for rollup
/// rows).
pub fn rollup_table_schema(kind: RollupKind) -> SchemaRef {
    let rollup = kind.schema();
    let mut fields: Vec<Field> = rollup.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(flow_col::FLOW_START, timestamp_type(), true));
    Arc::new(Schema::new(fields))
}

/// How a rollup table takes `filters`: conditions on `flow_start` alone exactly (it applies
/// them per part), the others as pruning hints (the plan above applies them).
pub fn rollup_filter_pushdown(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| {
            if is_time_bound(f) {
                TableProviderFilterPushDown::Exact
            } else {
                TableProviderFilterPushDown::Inexact
            }
        })
        .collect()
}

/// Where a part's rows come from.
#[derive(Debug, Default)]
struct Sources {
    rollups: Vec<PathBuf>,
    /// Of `rollups`, the hourly and daily ones.
    summed: usize,
    parts: Vec<PathBuf>,
    skipped: usize,
}

#[async_trait::async_trait]
impl TableProvider for RollupTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(rollup_filter_pushdown(filters))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut range = TimeRange::default();
        let mut others = Vec::new();
        for f in filters {
            if !range.narrow(f) {
                others.push(f.clone());
            }
        }
        let channels = self.flows.channels().clone().intersect(channels_for_filters(filters));
        let snapshot = self.flows.snapshot(channels, range.within()).await?;
        let mut sources = Sources::default();
        let days = snapshot.summed_rollups(self.kind, SumLevel::Day);
        let hours = snapshot.summed_rollups(self.kind, SumLevel::Hour);
        let mut summed_read = HashSet::new();
        for (part, rollup) in snapshot.parquet_files.iter().zip(snapshot.rollups_of(self.kind)) {
            // A whole day or hour the range takes: its summed rollup, once, for all its parts.
            let hour_dir = part.parent();
            let day_dir = hour_dir.and_then(Path::parent);
            let summed = [(day_dir, &days), (hour_dir, &hours)]
                .into_iter()
                .find_map(|(dir, sums)| {
                    let dir = dir?;
                    let sum = *sums.get(dir)?;
                    range
                        .covers(sum.first_start_ms, sum.last_start_ms)
                        .then_some((dir, sum))
                });
            if let Some((dir, sum)) = summed {
                if summed_read.insert(dir) {
                    sources.rollups.push(sum.path.clone());
                    sources.summed += 1;
                }
                continue;
            }
            match rollup {
                Some(r) if range.misses(r.first_start_ms, r.last_start_ms) => sources.skipped += 1,
                Some(r) if range.covers(r.first_start_ms, r.last_start_ms) => sources.rollups.push(r.path.clone()),
                _ => sources.parts.push(part.clone()),
            }
        }
        tracing::debug!(
            kind = self.kind.name(),
            rollups = sources.rollups.len(),
            summed = sources.summed,
            parts = sources.parts.len(),
            skipped = sources.skipped,
            "rollup scan"
        );
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let mut inputs = Vec::new();
        if !sources.rollups.is_empty() {
            inputs.push(self.scan_rollups(state, &sources.rollups, &wanted, &others).await?);
        }
        let time = time_condition(filters);
        if let Some(sealed) = sealed_table(state, &sources.parts)? {
            inputs.push(self.scan_flows(state, sealed, &wanted, filters, time.as_ref()).await?);
        }
        let open = open_table(snapshot, state.config().target_partitions())?;
        inputs.push(self.scan_flows(state, open, &wanted, filters, time.as_ref()).await?);
        if inputs.len() == 1 {
            return Ok(inputs.remove(0));
        }
        UnionExec::try_new(inputs)
    }
}

/// The `flow_start` conditions among `filters`, as one predicate.
fn time_condition(filters: &[Expr]) -> Option<Expr> {
    conjunction(filters.iter().filter(|f| is_time_bound(f)).cloned())
}

impl RollupTable {
    /// The rollup rows of `files`, in the table's columns `wanted`.
    async fn scan_rollups(
        &self,
        state: &dyn Session,
        files: &[PathBuf],
        wanted: &[usize],
        conditions: &[Expr],
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let urls = files
            .iter()
            .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
            .collect::<Result<Vec<_>>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(format!(".{ROLLUP_EXT}"));
        let rollup_schema = self.kind.schema();
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(Arc::clone(&rollup_schema));
        let table = ListingTable::try_new(config)?.with_cache(file_statistics_cache(state));
        // Read only the stored columns the query wants: a slave's local plan gets no projection
        // pushdown from a physical optimizer, so this is what keeps its reads narrow.
        let names: Vec<&String> = wanted.iter().map(|&i| self.schema.field(i).name()).collect();
        let stored: Vec<usize> = names.iter().filter_map(|n| rollup_schema.index_of(n).ok()).collect();
        let plan = table.scan(state, Some(&stored), conditions, None).await?;
        let exprs = names
            .iter()
            .zip(wanted)
            .map(|(name, &i)| {
                let expr: Arc<dyn PhysicalExpr> =
                    match stored.iter().position(|&j| rollup_schema.field(j).name() == *name) {
                        Some(k) => Arc::new(Column::new(name, k)),
                        None => Arc::new(Literal::new(ScalarValue::try_from(self.schema.field(i).data_type())?)),
                    };
                Ok((expr, (*name).clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
    }

    /// The flows of `table` (flow schema) as rollup rows of one flow each, in the table's
    /// columns `wanted`, keeping only the flows in the time range.
    async fn scan_flows(
        &self,
        state: &dyn Session,
        table: impl TableProvider,
        wanted: &[usize],
        filters: &[Expr],
        time: Option<&Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let flows = flow_schema();
        // The flow columns read: the wanted ones and those of the time condition, in table order.
        let mut read: Vec<usize> = wanted
            .iter()
            .filter_map(|&i| flows.index_of(self.schema.field(i).name()).ok())
            .collect();
        if time.is_some() {
            read.push(flows.index_of(flow_col::FLOW_START)?);
        }
        read.sort_unstable();
        read.dedup();
        let mut plan = table.scan(state, Some(&read), filters, None).await?;
        if let Some(time) = time {
            let df_schema = DFSchema::try_from(plan.schema().as_ref().clone())?;
            let predicate = state.create_physical_expr(unqualified(time)?, &df_schema)?;
            plan = Arc::new(FilterExec::try_new(predicate, plan)?);
        }
        let read_schema = plan.schema();
        let exprs = wanted
            .iter()
            .map(|&i| {
                let field = self.schema.field(i);
                let expr: Arc<dyn PhysicalExpr> = if field.name() == FLOWS_COL {
                    Arc::new(Literal::new(ScalarValue::Int64(Some(1))))
                } else {
                    let j = read_schema.index_of(field.name())?;
                    Arc::new(Column::new(field.name(), j))
                };
                Ok((expr, field.name().clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
    }
}

/// `expr` with its column references stripped of their table (the scan's own schema has none).
fn unqualified(expr: &Expr) -> Result<Expr> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    expr.clone()
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(col(datafusion::common::Column::new_unqualified(
                c.name,
            )))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}
