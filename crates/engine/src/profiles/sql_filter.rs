//! A channel's SQL predicate: parsed against the flow schema with the flow functions, and
//! checked to be a plain boolean row filter.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::prelude::SessionContext;

use crate::schema::flow_schema;
use crate::sql::functions::register_flow_functions;

/// The context predicates are parsed in: the flow functions, nothing else registered.
fn parser() -> &'static (SessionContext, Arc<DFSchema>) {
    static PARSER: OnceLock<(SessionContext, Arc<DFSchema>)> = OnceLock::new();
    PARSER.get_or_init(|| {
        let ctx = SessionContext::new();
        register_flow_functions(&ctx);
        let schema = DFSchema::try_from(flow_schema().as_ref().clone()).expect("the flow schema has unique names");
        (ctx, Arc::new(schema))
    })
}

/// The expression of a SQL predicate over the flow columns; an error names what is wrong.
pub fn sql_predicate(text: &str) -> Result<Expr, String> {
    let (ctx, schema) = parser();
    let expr = ctx.parse_sql_expr(text, schema).map_err(|e| e.strip_backtrace())?;
    let not_a_row_filter = expr
        .exists(|e| {
            Ok(matches!(
                e,
                Expr::AggregateFunction(_)
                    | Expr::WindowFunction(_)
                    | Expr::ScalarSubquery(_)
                    | Expr::Exists(_)
                    | Expr::InSubquery(_)
                    | Expr::Placeholder(_)
            ))
        })
        .unwrap_or(true);
    if not_a_row_filter {
        return Err(
            "a channel's SQL filter is a predicate on one flow: no aggregates, window functions, \
                    subqueries or parameters"
                .to_string(),
        );
    }
    match expr.get_type(schema.as_ref()).map_err(|e| e.strip_backtrace())? {
        DataType::Boolean => Ok(expr),
        other => Err(format!("the SQL filter is of type {other}, not a boolean")),
    }
}
