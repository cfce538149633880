//! Channel pruning: the exporters a query's filters allow, so a scan lists and reads only those
//! channels' directories (`exporter=<addr>` partitions). Exact: a channel is skipped only when no
//! row of it can pass the filters.
//!
//! Understood forms (after constant folding, so `ip('10.0.0.1')` is a literal): `exporter = X`,
//! `X = exporter`, `exporter IN (X, Y)`, and `AND` / `OR` of those. Anything else allows every
//! channel.

use std::collections::BTreeSet;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use crate::addr::Addr16;
use crate::schema::col;
use crate::snapshot::Channels;

/// The channels that rows passing every filter in `filters` (a conjunction) can come from.
pub fn channels_for_filters(filters: &[Expr]) -> Channels {
    filters
        .iter()
        .fold(Channels::All, |acc, f| acc.intersect(channels_for(f)))
}

fn channels_for(expr: &Expr) -> Channels {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => channels_for(left).intersect(channels_for(right)),
            Operator::Or => union(channels_for(left), channels_for(right)),
            Operator::Eq => match (exporter_column(left), exporter_column(right)) {
                (true, false) => literal_set([right.as_ref()]),
                (false, true) => literal_set([left.as_ref()]),
                _ => Channels::All,
            },
            _ => Channels::All,
        },
        Expr::InList(list) if !list.negated && exporter_column(&list.expr) => literal_set(list.list.iter()),
        _ => Channels::All,
    }
}

fn union(a: Channels, b: Channels) -> Channels {
    match (a, b) {
        (Channels::Only(mut a), Channels::Only(b)) => {
            a.extend(b);
            Channels::Only(a)
        }
        _ => Channels::All,
    }
}

fn exporter_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Column(c) if c.name == col::EXPORTER)
}

/// The addresses of literal expressions; `All` if any of them is not an address literal. A null
/// literal matches no row, so it adds nothing.
fn literal_set<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> Channels {
    let mut set = BTreeSet::new();
    for expr in exprs {
        match expr {
            Expr::Literal(ScalarValue::FixedSizeBinary(16, value), _) => {
                if let Some(bytes) = value {
                    let Ok(addr) = Addr16::try_from(bytes.as_slice()) else {
                        return Channels::All;
                    };
                    set.insert(addr);
                }
            }
            _ => return Channels::All,
        }
    }
    Channels::Only(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::from_ip;
    use datafusion::prelude::{col, lit};

    fn addr_lit(text: &str) -> Expr {
        let a = from_ip(text.parse().unwrap());
        lit(ScalarValue::FixedSizeBinary(16, Some(a.to_vec())))
    }

    fn only(texts: &[&str]) -> Channels {
        Channels::Only(texts.iter().map(|t| from_ip(t.parse().unwrap())).collect())
    }

    #[test]
    fn equality_and_in_list_select_channels() {
        let eq = col("exporter").eq(addr_lit("10.0.0.1"));
        assert_eq!(channels_for_filters(&[eq]), only(&["10.0.0.1"]));
        let flipped = addr_lit("2001:db8::1").eq(col("exporter"));
        assert_eq!(channels_for_filters(&[flipped]), only(&["2001:db8::1"]));
        let inlist = col("exporter").in_list(vec![addr_lit("10.0.0.1"), addr_lit("10.0.0.2")], false);
        assert_eq!(channels_for_filters(&[inlist]), only(&["10.0.0.1", "10.0.0.2"]));
    }

    #[test]
    fn and_intersects_or_unites_and_unknown_keeps_all() {
        let a = col("exporter").eq(addr_lit("10.0.0.1"));
        let b = col("exporter").eq(addr_lit("10.0.0.2"));
        assert_eq!(
            channels_for_filters(&[a.clone().or(b.clone())]),
            only(&["10.0.0.1", "10.0.0.2"])
        );
        assert_eq!(channels_for_filters(&[a.clone(), b.clone()]), only(&[]));
        let port = col("dst_port").eq(lit(443u16));
        assert_eq!(channels_for_filters(&[a.clone().or(port.clone())]), Channels::All);
        assert_eq!(channels_for_filters(&[a.and(port)]), only(&["10.0.0.1"]));
        let negated = col("exporter").in_list(vec![addr_lit("10.0.0.1")], true);
        assert_eq!(channels_for_filters(&[negated]), Channels::All);
        assert_eq!(channels_for_filters(&[!b]), Channels::All);
    }
}
