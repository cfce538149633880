//! The optimizer rule that answers aggregations from rollups.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::default_table_source::{provider_as_source, source_as_provider};
use datafusion::common::Column;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Aggregate, Expr, Filter, LogicalPlan, Projection, TableScan, TableScanBuilder, col, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::bounds::is_time_bound;
use super::table::RollupTable;
use crate::rollup::{FLOWS_COL, RollupKind};
use crate::schema::col as flow_col;
use crate::sql::table::FlowsTable;

/// Rewrites `Aggregate(count(*), sum(bytes), sum(packets) GROUP BY <rollup keys>)` over
/// `[Projection] [Filter] TableScan(flows)` into the same aggregate of the rollup's sums over a
/// [`RollupTable`], when every column the query reads outside the sums is a key of one rollup
/// kind (or `exporter`), and every condition on `flow_start` compares it with a timestamp. The
/// output columns keep their names and types.
///
/// Which scans it rewrites is up to its [`RollupFor`] functions: by default a [`FlowsTable`]'s
/// (a node's own flows); the master adds its cluster table's, whose slaves read the rollups.
#[derive(Debug)]
pub struct UseRollups {
    sources: Vec<RollupFor>,
}

/// The rollup of `kind` over the flows of a table, if the table is one this function knows.
pub type RollupFor = fn(&Arc<dyn TableProvider>, RollupKind) -> Option<Arc<dyn TableProvider>>;

/// The rollup of a node's own flows.
fn local_rollup(table: &Arc<dyn TableProvider>, kind: RollupKind) -> Option<Arc<dyn TableProvider>> {
    let flows = table.downcast_ref::<FlowsTable>()?;
    Some(Arc::new(RollupTable::new(flows.clone(), kind)))
}

impl Default for UseRollups {
    fn default() -> Self {
        UseRollups {
            sources: vec![local_rollup],
        }
    }
}

impl UseRollups {
    /// The rule for the tables of `also` besides a node's own flows.
    pub fn with(mut self, also: RollupFor) -> UseRollups {
        self.sources.push(also);
        self
    }
}

impl OptimizerRule for UseRollups {
    fn name(&self) -> &str {
        "use_rollups"
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
        Ok(match rollup_aggregate(aggregate, &self.sources)? {
            Some(rewritten) => Transformed::yes(rewritten),
            None => Transformed::no(plan),
        })
    }
}

/// The scan below an aggregate and the conditions on its rows, if the path between them is only
/// column projections and filters.
fn scan_below(mut plan: &LogicalPlan) -> Option<(&TableScan, Vec<Expr>)> {
    let mut conditions: Vec<Expr> = Vec::new();
    loop {
        match plan {
            LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => plan = &p.input,
            LogicalPlan::Filter(Filter { predicate, input, .. }) => {
                conditions.extend(split_conjunction(predicate).into_iter().cloned());
                plan = input;
            }
            LogicalPlan::TableScan(scan) => {
                for f in &scan.filters {
                    conditions.extend(split_conjunction(f).into_iter().cloned());
                }
                let mut seen = HashSet::new();
                conditions.retain(|c| seen.insert(c.clone()));
                return Some((scan, conditions));
            }
            _ => return None,
        }
    }
}

/// `true` for `count(*)` (`count(1)` once planned), aliased or not.
pub(crate) fn is_count_star(expr: &Expr) -> bool {
    let expr = match expr {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    matches!(expr, Expr::AggregateFunction(AggregateFunction { func, params })
        if func.name() == "count"
            && !params.distinct
            && params.filter.is_none()
            && matches!(params.args.as_slice(), [Expr::Literal(ScalarValue::Int64(Some(1)), _)]))
}

/// The output columns of `aggregate` over its rewritten form: the group keys as they are, each
/// sum under the original aggregate's name, and `count(*)`, which is never null (0 over no
/// rows), as `coalesce(sum(flows), 0)`, so that names, types and nullability stay the query's.
fn same_columns(aggregate: &Aggregate) -> Vec<Expr> {
    let groups = aggregate.group_expr.len();
    (0..aggregate.schema.fields().len())
        .map(|i| {
            let (qualifier, field) = aggregate.schema.qualified_field(i);
            if i < groups {
                return Expr::Column(Column::from((qualifier, field)));
            }
            let sum = col(format!("__rollup_{}", i - groups));
            let value = match is_count_star(&aggregate.aggr_expr[i - groups]) {
                true => coalesce(vec![sum, lit(0i64)]),
                false => sum,
            };
            value.alias_qualified(qualifier.cloned(), field.name())
        })
        .collect()
}

/// What one aggregate of the query becomes over a rollup.
fn over_rollup(expr: &Expr) -> Option<Expr> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
        return None;
    };
    if params.distinct || params.filter.is_some() || !params.order_by.is_empty() || params.null_treatment.is_some() {
        return None;
    }
    match (func.name(), params.args.as_slice()) {
        ("count", [Expr::Literal(ScalarValue::Int64(Some(1)), _)]) => Some(sum(col(FLOWS_COL))),
        ("sum", [Expr::Column(c)]) if c.name == flow_col::BYTES || c.name == flow_col::PACKETS => {
            Some(sum(col(c.name.as_str())))
        }
        _ => None,
    }
}

fn rollup_aggregate(aggregate: &Aggregate, sources: &[RollupFor]) -> Result<Option<LogicalPlan>> {
    let Some((scan, conditions)) = scan_below(&aggregate.input) else {
        return Ok(None);
    };
    if scan.fetch.is_some() {
        return Ok(None);
    }
    let Ok(provider) = source_as_provider(&scan.source) else {
        return Ok(None);
    };
    if aggregate.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
        return Ok(None);
    }
    let mut sums = Vec::with_capacity(aggregate.aggr_expr.len());
    for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
        let inner = match expr {
            Expr::Alias(alias) => alias.expr.as_ref(),
            other => other,
        };
        let Some(new) = over_rollup(inner) else {
            return Ok(None);
        };
        sums.push(new.alias(format!("__rollup_{i}")));
    }
    // `count(*)` of everything: the files' statistics answer it without reading a row.
    if aggregate.group_expr.is_empty() && conditions.is_empty() && aggregate.aggr_expr.iter().all(is_count_star) {
        return Ok(None);
    }
    // Columns read outside the sums: the group keys and the conditions not on time alone.
    let (times, others): (Vec<&Expr>, Vec<&Expr>) = conditions.iter().partition(|c| is_time_bound(c));
    // A volatile condition or key (`random() < 0.1`) would be drawn once per rollup row, not
    // once per flow.
    if aggregate
        .group_expr
        .iter()
        .chain(others.iter().copied())
        .any(Expr::is_volatile)
    {
        return Ok(None);
    }
    let mut read: HashSet<String> = HashSet::new();
    for expr in aggregate.group_expr.iter().chain(others.iter().copied()) {
        read.extend(expr.column_refs().into_iter().map(|c| c.name.clone()));
    }
    let Some(kind) = RollupKind::ALL
        .into_iter()
        .find(|k| read.iter().all(|name| k.has_dimension(name)))
    else {
        return Ok(None);
    };
    let Some(table) = sources.iter().find_map(|f| f(&provider, kind)) else {
        return Ok(None);
    };
    let schema = table.schema();
    let mut projection: Vec<usize> = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let name = field.name();
        let summed = sums.iter().any(|s| s.column_refs().iter().any(|c| &c.name == name));
        if read.contains(name) || summed {
            projection.push(i);
        }
    }
    let filters: Vec<Expr> = times.iter().chain(others.iter()).map(|e| (*e).clone()).collect();
    let mut input = LogicalPlan::TableScan(
        TableScanBuilder::new(scan.table_name.clone(), provider_as_source(table))
            .with_projection(Some(projection))
            .with_filters(filters)
            .build()?,
    );
    if let Some(predicate) = conjunction(others.into_iter().cloned()) {
        input = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?);
    }
    let rewritten = Aggregate::try_new(Arc::new(input), aggregate.group_expr.clone(), sums)?;
    Ok(Some(LogicalPlan::Projection(Projection::try_new(
        same_columns(aggregate),
        Arc::new(LogicalPlan::Aggregate(rewritten)),
    )?)))
}
