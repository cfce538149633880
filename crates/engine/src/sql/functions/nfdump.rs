//! `nfdump(filter)`: an nfdump filter (`proto tcp and dst port 443`) as a SQL predicate. The
//! call never runs: while planning, `simplify` replaces it by the filter's compiled expression
//! ([`crate::sql::nfdump_filter`]), with each column it reads bound to the one flow table of the
//! query's input, so the filter prunes by Parquet statistics exactly like hand-written SQL.
//!
//! Errors, all while planning: a filter that does not parse (`nfdump(): at 9: expected ...`), a
//! filter that is not a constant string, a column the input lacks, a column two inputs share.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, Result, ScalarValue, exec_err, plan_datafusion_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercionRewriter;

use super::args::{check_arity, coerce_text};
use super::doc::doc;
use crate::sql::nfdump_filter::compile;

const NAME: &str = "nfdump";
const PARAMS: [&str; 1] = ["filter"];

/// SQL `nfdump(filter) -> Boolean`: `true` for the flows the nfdump filter selects. `filter` must
/// be a constant string in nfdump's filter language (see [`crate::sql::nfdump_filter`]); the call
/// is replaced by the compiled filter while planning, so it costs nothing at run time and prunes
/// like the equivalent SQL. Its columns are the flow schema's, resolved against the query's
/// input: a flow table under any alias, a channel table, or a join where only one side has them.
///
/// Like the SQL it becomes, the result is NULL where a test outside any `not` reads an absent
/// field; `WHERE` drops such a flow, as nfdump does. Negate inside the filter, where nfdump's
/// meaning holds (`nfdump('not src as 64500')` passes flows without an AS), not around the call
/// (`NOT nfdump('src as 64500')` drops them, as `NOT (src_as = 64500)` does).
///
/// ```sql
/// SELECT count(*) FROM flows WHERE nfdump('proto tcp and dst port 443 and not net 10.0.0.0/8');
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Nfdump {
    signature: Signature,
}

impl Nfdump {
    /// The function, ready for [`datafusion::logical_expr::ScalarUDF::new_from_impl`].
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Nfdump {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for Nfdump {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, &PARAMS, arg_types)?;
        Ok(vec![coerce_text(NAME, PARAMS[0], &arg_types[0])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    /// Always nullable (a test on an absent field may be NULL). A literal filter is parsed here
    /// already, so a bad one fails while the SQL is planned, before any optimizer runs.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(Some(value)) = args.scalar_arguments.first()
            && let Some(text) = literal_text(value)
        {
            compile_filter(text)?;
        }
        Ok(Arc::new(Field::new(NAME, DataType::Boolean, true)))
    }

    /// Replaces the call by the compiled filter, its columns qualified from the input schema
    /// and its types coerced like the rest of the plan.
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let [arg] = args.as_slice() else {
            return plan_err!("{NAME}() takes 1 argument(s) (filter), got {}", args.len());
        };
        let text = match arg {
            Expr::Literal(value, _) => match literal_text(value) {
                Some(text) => text,
                None => return plan_err!("{NAME}(): the filter must be a constant string, got {value}"),
            },
            other => return plan_err!("{NAME}(): the filter must be a constant string, got the expression {other}"),
        };
        let expr = bind_columns(compile_filter(text)?, info.schema())?;
        let mut coercion = TypeCoercionRewriter::new(info.schema());
        Ok(ExprSimplifyResult::Simplified(expr.rewrite(&mut coercion)?.data))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Reached only when the optimizer did not run (or while it folds constants, which
        // then leaves the call to `simplify`): the filter needs the flow columns to run.
        exec_err!("{NAME}() is compiled into its filter while planning and cannot run on its own")
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "True for the flows an nfdump filter selects (proto, ip, net, port, as, if, flags, tos, \
                 packets, bytes, duration, pps, bps, bpp; and, or, not). The filter must be a constant \
                 string; it is compiled into SQL while planning, so it prunes like hand-written SQL.",
                "nfdump(filter)",
                "SELECT count(*) FROM flows WHERE nfdump('proto tcp and dst port 443')",
                &[("filter", "nfdump filter text, e.g. 'proto udp and src net 10.0.0.0/8'.")],
            )
        });
        Some(&DOC)
    }
}

/// The text of a non-NULL string literal.
fn literal_text(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(text)) | ScalarValue::LargeUtf8(Some(text)) | ScalarValue::Utf8View(Some(text)) => {
            Some(text)
        }
        _ => None,
    }
}

/// The filter's expression, or a planning error naming the cause and its position.
fn compile_filter(text: &str) -> Result<Expr> {
    compile(text).map_err(|e| plan_datafusion_err!("{NAME}(): {e}"))
}

/// Qualifies every unqualified column of `expr` with the one input of `schema` that has it.
fn bind_columns(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    expr.transform_up(|e| match e {
        Expr::Column(column) if column.relation.is_none() => {
            Ok(Transformed::yes(Expr::Column(bind_column(&column.name, schema)?)))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}

fn bind_column(name: &str, schema: &DFSchema) -> Result<Column> {
    let found = schema.qualified_fields_with_unqualified_name(name);
    match found.as_slice() {
        [] => plan_err!(
            "{NAME}(): the filter reads column '{name}', which the query's input does not have \
             (nfdump() filters rows of a flow table: flows or a channel table)"
        ),
        [(qualifier, _)] => Ok(Column::new(qualifier.cloned(), name)),
        _ => match schema.qualified_field_with_unqualified_name(name) {
            Ok((qualifier, _)) => Ok(Column::new(qualifier.cloned(), name)),
            Err(_) => {
                let inputs: Vec<String> = found
                    .iter()
                    .map(|(q, _)| q.map_or_else(|| "(unnamed)".to_string(), ToString::to_string))
                    .collect();
                plan_err!(
                    "{NAME}(): column '{name}' is ambiguous here: {} all have it; filter each flow table in \
                     its own subquery",
                    inputs.join(", ")
                )
            }
        },
    }
}

#[cfg(test)]
#[path = "nfdump_tests.rs"]
mod tests;
