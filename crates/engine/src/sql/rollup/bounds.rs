//! The time range of a query's `flow_start` conjuncts, which a rollup can answer exactly.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::schema::col;

/// A closed range of `flow_start` in ms (`i64::MIN..=i64::MAX` when unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub first_ms: i64,
    pub last_ms: i64,
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange {
            first_ms: i64::MIN,
            last_ms: i64::MAX,
        }
    }
}

impl TimeRange {
    /// Narrows the range by one bound; `false` if `expr` is not of the form
    /// `flow_start <op> <timestamp ms literal>` (or the reverse).
    pub fn narrow(&mut self, expr: &Expr) -> bool {
        let Some((op, value)) = time_bound(expr) else {
            return false;
        };
        match op {
            Operator::Gt => self.first_ms = self.first_ms.max(value.saturating_add(1)),
            Operator::GtEq => self.first_ms = self.first_ms.max(value),
            Operator::Lt => self.last_ms = self.last_ms.min(value.saturating_sub(1)),
            Operator::LtEq => self.last_ms = self.last_ms.min(value),
            Operator::Eq => {
                self.first_ms = self.first_ms.max(value);
                self.last_ms = self.last_ms.min(value);
            }
            _ => return false,
        }
        true
    }

    /// The range as (first, last) ms, `None` if it is not bounded at all.
    pub fn within(&self) -> Option<(i64, i64)> {
        (*self != TimeRange::default()).then_some((self.first_ms, self.last_ms))
    }

    /// `true` if every time in `first..=last` is in the range.
    pub fn covers(&self, first: i64, last: i64) -> bool {
        self.first_ms <= first && last <= self.last_ms
    }

    /// `true` if no time in `first..=last` is in the range.
    pub fn misses(&self, first: i64, last: i64) -> bool {
        last < self.first_ms || first > self.last_ms || self.first_ms > self.last_ms
    }
}

/// The closed `flow_start` range (first, last ms) the bounds among `filters` allow, `None` if
/// they bound nothing.
pub fn flow_start_bounds(filters: &[Expr]) -> Option<(i64, i64)> {
    let mut range = TimeRange::default();
    for f in filters {
        range.narrow(f);
    }
    range.within()
}

/// `true` if `expr` is a bound [`TimeRange::narrow`] takes.
pub(crate) fn is_time_bound(expr: &Expr) -> bool {
    TimeRange::default().narrow(expr)
}

/// `(op, ms)` of `flow_start <op> ms`, with the operands of `ms <op> flow_start` swapped.
fn time_bound(expr: &Expr) -> Option<(Operator, i64)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let (column, value, op) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) => (c, v, *op),
        (Expr::Literal(v, _), Expr::Column(c)) => (c, v, op.swap()?),
        _ => return None,
    };
    if column.name != col::FLOW_START {
        return None;
    }
    match value {
        ScalarValue::TimestampMillisecond(Some(ms), _) => Some((op, *ms)),
        _ => None,
    }
}
