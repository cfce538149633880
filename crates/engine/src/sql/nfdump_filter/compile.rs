//! A parsed filter to a DataFusion expression over the flow schema.
//!
//! Addresses compare as `FixedSizeBinary(16)` literals (a host by `=`, a network by `BETWEEN`
//! its lowest and highest address) and numbers as literals of their column's type, so Parquet
//! statistics and page indexes prune with them.
//!
//! Absent values: a test reading a NULL column is false, so its `not` is true. Where a NULL
//! cannot change whether a flow passes (outside any `not`, a NULL comparison rejects the flow like
//! `false`), tests are plain comparisons; under an odd number of `not`s, and for values computed
//! by `CASE`, they are guarded by `column IS NOT NULL AND ...`.

use arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::{Between, Expr, Operator, binary_expr, cast, lit};

use super::ast::{AddrMatch, Cmp, Counter, Dir, FlagsTest, IfSide, Match, Node, NodeKind, Test};
use super::net::Net;
use crate::addr::Addr16;
use crate::schema::col;

/// The expression of a filter's tree.
pub(crate) fn to_expr(node: &Node) -> Expr {
    node_expr(node, false)
}

/// `negated`: the node is under an odd number of `not`s.
fn node_expr(node: &Node, negated: bool) -> Expr {
    match &node.kind {
        NodeKind::Not(inner) => !node_expr(inner, !negated),
        NodeKind::And(items) => balanced(items.iter().map(|n| node_expr(n, negated)).collect(), Expr::and),
        NodeKind::Or(items) => balanced(items.iter().map(|n| node_expr(n, negated)).collect(), Expr::or),
        NodeKind::Test(test) => test_expr(test, negated),
    }
}

/// `exprs` joined by `join` as a balanced tree (long chains stay shallow).
fn balanced(mut exprs: Vec<Expr>, join: fn(Expr, Expr) -> Expr) -> Expr {
    if exprs.len() <= 1 {
        return exprs.pop().unwrap_or(lit(true));
    }
    let right = exprs.split_off(exprs.len() / 2);
    join(balanced(exprs, join), balanced(right, join))
}

/// A test on one set of columns: the predicate, the nullable columns it reads, and whether it is
/// NULL whenever one of them is (then it needs no guard outside `not`).
struct Atom {
    pred: Expr,
    reads: Vec<&'static str>,
    strict: bool,
}

impl Atom {
    fn strict(pred: Expr, reads: &[&'static str]) -> Self {
        Self {
            pred,
            reads: reads.to_vec(),
            strict: true,
        }
    }

    /// The predicate, false (never NULL) on absent values where that matters.
    fn finish(self, negated: bool) -> Expr {
        if self.strict && !negated {
            return self.pred;
        }
        let guards = self.reads.iter().map(|name| column(name).is_not_null());
        guards.rev().fold(self.pred, |pred, guard| guard.and(pred))
    }
}

fn test_expr(test: &Test, negated: bool) -> Expr {
    match test {
        Test::Any => lit(true),
        // The address family of the source address: `ipv6` is "not an IPv4 address".
        Test::Ipv6(v6) => {
            let (low, high) = v4_range();
            let pred = Expr::Between(Between::new(
                Box::new(column(col::SRC_ADDR)),
                *v6,
                Box::new(addr_lit(low)),
                Box::new(addr_lit(high)),
            ));
            Atom::strict(pred, &[col::SRC_ADDR]).finish(negated)
        }
        Test::Addr(dir, m) => sides(*dir, col::SRC_ADDR, col::DST_ADDR, negated, |c| addr_atom(c, m)),
        Test::Port(dir, m) => sides(*dir, col::SRC_PORT, col::DST_PORT, negated, |c| {
            match_atom(c, m, |v| lit(*v))
        }),
        Test::As(dir, m) => sides(*dir, col::SRC_AS, col::DST_AS, negated, |c| {
            match_atom(c, m, |v| lit(*v))
        }),
        Test::Proto(p) => Atom::strict(column(col::PROTOCOL).eq(lit(*p)), &[col::PROTOCOL]).finish(negated),
        Test::Interface(side, n) => {
            let one = |name: &'static str| Atom::strict(column(name).eq(lit(*n)), &[name]).finish(negated);
            match side {
                IfSide::In => one(col::INPUT_IF),
                IfSide::Out => one(col::OUTPUT_IF),
                IfSide::Either => one(col::INPUT_IF).or(one(col::OUTPUT_IF)),
            }
        }
        Test::Flags(flags) => flags_atom(*flags, negated).finish(negated),
        Test::Tos(cmp, n) => Atom::strict(compare(column(col::TOS), *cmp, lit(*n)), &[col::TOS]).finish(negated),
        Test::Counter(counter, cmp, n) => counter_atom(*counter, *cmp, *n).finish(negated),
    }
}

/// The test on the source column, the destination column, or both as `dir` says.
fn sides(dir: Dir, src: &'static str, dst: &'static str, negated: bool, atom: impl Fn(&'static str) -> Atom) -> Expr {
    match dir {
        Dir::Src => atom(src).finish(negated),
        Dir::Dst => atom(dst).finish(negated),
        Dir::Either => atom(src).finish(negated).or(atom(dst).finish(negated)),
        Dir::Both => atom(src).finish(negated).and(atom(dst).finish(negated)),
    }
}

fn addr_atom(name: &'static str, m: &AddrMatch) -> Atom {
    let pred = match m {
        AddrMatch::Host(net) | AddrMatch::Net(net) => net_pred(name, net),
        AddrMatch::In(nets) => {
            let hosts: Vec<Expr> = nets
                .iter()
                .filter(|n| n.is_host())
                .map(|n| addr_lit(n.bounds().0))
                .collect();
            let mut preds: Vec<Expr> = nets
                .iter()
                .filter(|n| !n.is_host())
                .map(|n| net_pred(name, n))
                .collect();
            if !hosts.is_empty() {
                preds.insert(0, column(name).in_list(hosts, false));
            }
            balanced(preds, Expr::or)
        }
    };
    Atom::strict(pred, &[name])
}

/// `column = host`, or `column BETWEEN low AND high` for a network.
fn net_pred(name: &str, net: &Net) -> Expr {
    let (low, high) = net.bounds();
    if net.is_host() {
        column(name).eq(addr_lit(low))
    } else {
        column(name).between(addr_lit(low), addr_lit(high))
    }
}

fn match_atom<T>(name: &'static str, m: &Match<T>, literal: impl Fn(&T) -> Expr) -> Atom {
    let pred = match m {
        Match::Cmp(cmp, v) => compare(column(name), *cmp, literal(v)),
        Match::In(values) => column(name).in_list(values.iter().map(literal).collect(), false),
    };
    Atom::strict(pred, &[name])
}

/// `proto tcp` and the flags: every given flag set; under `not`, any of them set (as nfdump
/// does, so `flags S and not flags AFRPU` means "only SYN").
fn flags_atom(flags: FlagsTest, negated: bool) -> Atom {
    let tcp = column(col::PROTOCOL).eq(lit(6u8));
    let masked = |mask: u16| binary_expr(column(col::TCP_FLAGS), Operator::BitwiseAnd, lit(mask));
    let test = match flags {
        FlagsTest::Letters(bits) if negated => masked(u16::from(bits)).not_eq(lit(0u16)),
        FlagsTest::Letters(bits) => masked(u16::from(bits)).eq(lit(u16::from(bits))),
        FlagsTest::Cmp(cmp, n) => compare(masked(0xff), cmp, lit(u16::from(n))),
    };
    Atom::strict(tcp.and(test), &[col::PROTOCOL, col::TCP_FLAGS])
}

fn counter_atom(counter: Counter, cmp: Cmp, n: u64) -> Atom {
    let duration = || cast(column(col::FLOW_END), DataType::Int64) - cast(column(col::FLOW_START), DataType::Int64);
    // nfdump's rates: 0 for a zero duration, integer division otherwise.
    let per_second = |name: &'static str, scale: u64| Atom {
        pred: compare(
            case(vec![
                (duration().eq(lit(0i64)), lit(0u64)),
                (
                    duration().gt(lit(0i64)),
                    column(name) * lit(scale) / cast(duration(), DataType::UInt64),
                ),
            ]),
            cmp,
            lit(n),
        ),
        reads: vec![col::FLOW_END, name],
        strict: false,
    };
    match counter {
        Counter::Packets => Atom::strict(compare(column(col::PACKETS), cmp, lit(n)), &[col::PACKETS]),
        Counter::Bytes => Atom::strict(compare(column(col::BYTES), cmp, lit(n)), &[col::BYTES]),
        Counter::Flows => Atom::strict(lit(cmp.holds(1, n)), &[]),
        Counter::Duration => {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            Atom::strict(compare(duration(), cmp, lit(n)), &[col::FLOW_END])
        }
        Counter::Pps => per_second(col::PACKETS, 1_000),
        Counter::Bps => per_second(col::BYTES, 8_000),
        Counter::Bpp => Atom {
            pred: compare(
                case(vec![
                    (column(col::PACKETS).eq(lit(0u64)), lit(0u64)),
                    (
                        column(col::PACKETS).gt(lit(0u64)),
                        column(col::BYTES) / column(col::PACKETS),
                    ),
                ]),
                cmp,
                lit(n),
            ),
            reads: vec![col::PACKETS, col::BYTES],
            strict: false,
        },
    }
}

/// `CASE WHEN .. THEN .. END` (NULL when no branch holds).
fn case(branches: Vec<(Expr, Expr)>) -> Expr {
    Expr::Case(Case::new(
        None,
        branches.into_iter().map(|(w, t)| (Box::new(w), Box::new(t))).collect(),
        None,
    ))
}

fn compare(left: Expr, cmp: Cmp, right: Expr) -> Expr {
    let op = match cmp {
        Cmp::Eq => Operator::Eq,
        Cmp::Gt => Operator::Gt,
        Cmp::Lt => Operator::Lt,
        Cmp::Ge => Operator::GtEq,
        Cmp::Le => Operator::LtEq,
    };
    binary_expr(left, op, right)
}

/// An unqualified column (names are used as is, never split at dots).
fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn addr_lit(addr: Addr16) -> Expr {
    lit(ScalarValue::FixedSizeBinary(16, Some(addr.to_vec())))
}

/// The stored addresses of all IPv4 addresses (`::ffff:0.0.0.0` to `::ffff:255.255.255.255`).
fn v4_range() -> (Addr16, Addr16) {
    Net::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0).map_or(([0; 16], [0xff; 16]), |n| n.bounds())
}
