//! The parsed filter: a tree of `not`, `and`, `or` over tests, each node with the byte span of
//! its text. Printing a tree gives its canonical text: every `and`/`or` in parentheses, numbers
//! in decimal, protocols as numbers, networks with their host bits cleared.

use std::fmt;

use super::net::Net;

/// Where a piece of the filter text is: byte offsets, `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

/// A comparison operator (`=`/`==`/`eq`, `>`/`gt`, `<`/`lt`, `>=`/`ge`, `<=`/`le`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Lt,
    Ge,
    Le,
}

impl Cmp {
    /// `true` if `left cmp right` holds.
    pub(crate) fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Gt => left > right,
            Self::Lt => left < right,
            Self::Ge => left >= right,
            Self::Le => left <= right,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Le => "<=",
        }
    }
}

/// Which address, port or AS of a flow a test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// `src`
    Src,
    /// `dst`
    Dst,
    /// no qualifier, or `src or dst`: either may match.
    Either,
    /// `src and dst`: both must match.
    Both,
}

/// Which interface `if` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfSide {
    /// `in if`
    In,
    /// `out if`
    Out,
    /// `if`: either.
    Either,
}

/// A number test: one comparison, or membership in a list (`in [ ... ]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match<T> {
    Cmp(Cmp, T),
    In(Vec<T>),
}

/// An address test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddrMatch {
    /// `ip ADDR` / `host ADDR`: one address.
    Host(Net),
    /// `net ADDR/LEN` / `net ADDR MASK`.
    Net(Net),
    /// `ip in [ ... ]`: any of the addresses and networks.
    In(Vec<Net>),
}

/// A counter or a value computed from counters and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Packets,
    Bytes,
    /// Flows a record stands for: 1 in flowfold.
    Flows,
    /// `flow_end - flow_start` in milliseconds.
    Duration,
    /// Packets per second.
    Pps,
    /// Bits per second.
    Bps,
    /// Bytes per packet.
    Bpp,
}

impl Counter {
    /// The keyword of the counter.
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Self::Packets => "packets",
            Self::Bytes => "bytes",
            Self::Flows => "flows",
            Self::Duration => "duration",
            Self::Pps => "pps",
            Self::Bps => "bps",
            Self::Bpp => "bpp",
        }
    }
}

/// A TCP flags test (both imply `proto tcp`, as in nfdump).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagsTest {
    /// `flags UAPRSF`: every given flag is set (see the module docs for `not flags`).
    Letters(u8),
    /// `flags [cmp] N`: the flags byte compared as a number.
    Cmp(Cmp, u8),
}

/// Letters of the TCP flags, highest bit first, as `flags` takes them.
pub(crate) const FLAG_LETTERS: [(char, u8); 6] = [('U', 32), ('A', 16), ('P', 8), ('R', 4), ('S', 2), ('F', 1)];

/// One test of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test {
    /// `any`: every flow.
    Any,
    /// `ipv4`/`inet` (`false`) or `ipv6`/`inet6` (`true`).
    Ipv6(bool),
    /// `ip`, `host`, `net`, `ip in`.
    Addr(Dir, AddrMatch),
    /// `port`, `port in`.
    Port(Dir, Match<u16>),
    /// `as`, `as in`.
    As(Dir, Match<u32>),
    /// `proto`.
    Proto(u8),
    /// `if`, `in if`, `out if`.
    Interface(IfSide, u32),
    /// `flags`.
    Flags(FlagsTest),
    /// `tos`.
    Tos(Cmp, u8),
    /// `packets`, `bytes`, `flows`, `duration`, `pps`, `bps`, `bpp`.
    Counter(Counter, Cmp, u64),
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Not(Box<Node>),
    /// Two or more operands, all of which must hold.
    And(Vec<Node>),
    /// Two or more operands, one of which must hold.
    Or(Vec<Node>),
    Test(Test),
}

/// A node and the span of its text (for `not`, from the keyword to the end of its operand; for
/// `and`/`or`, from the first to the last token of the operands; parentheses around a node are
/// not part of its span). A chain of one operator (`a or b or c`) is one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKind::Not(inner) => write!(f, "not {inner}"),
            NodeKind::And(items) => write!(f, "({})", join_with(items, " and ")),
            NodeKind::Or(items) => write!(f, "({})", join_with(items, " or ")),
            NodeKind::Test(test) => write!(f, "{test}"),
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Ipv6(v6) => f.write_str(if *v6 { "ipv6" } else { "ipv4" }),
            Self::Addr(dir, AddrMatch::Host(net)) => write!(f, "{dir}ip {net}"),
            Self::Addr(dir, AddrMatch::Net(net)) => write!(f, "{dir}net {}", NetText(net)),
            Self::Addr(dir, AddrMatch::In(nets)) => write!(f, "{dir}ip in [{}]", join(nets)),
            Self::Port(dir, m) => write!(f, "{dir}port {}", MatchText(m)),
            Self::As(dir, m) => write!(f, "{dir}as {}", MatchText(m)),
            Self::Proto(p) => write!(f, "proto {p}"),
            Self::Interface(side, n) => {
                let side = match side {
                    IfSide::In => "in ",
                    IfSide::Out => "out ",
                    IfSide::Either => "",
                };
                write!(f, "{side}if {n}")
            }
            Self::Flags(FlagsTest::Letters(bits)) => {
                let letters: String = FLAG_LETTERS
                    .iter()
                    .filter(|(_, bit)| bits & bit != 0)
                    .map(|(c, _)| c)
                    .collect();
                write!(f, "flags {letters}")
            }
            Self::Flags(FlagsTest::Cmp(cmp, n)) => write!(f, "flags {}", MatchText(&Match::Cmp(*cmp, n))),
            Self::Tos(cmp, n) => write!(f, "tos {}", MatchText(&Match::Cmp(*cmp, n))),
            Self::Counter(counter, cmp, n) => {
                write!(f, "{} {}", counter.keyword(), MatchText(&Match::Cmp(*cmp, n)))
            }
        }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Src => "src ",
            Self::Dst => "dst ",
            Self::Either => "",
            Self::Both => "src and dst ",
        })
    }
}

/// A network as `net` prints it: always with its length.
struct NetText<'a>(&'a Net);

impl fmt::Display for NetText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        if text.contains('/') {
            f.write_str(&text)
        } else {
            let width = if text.contains(':') { 128 } else { 32 };
            write!(f, "{text}/{width}")
        }
    }
}

/// A number test: `80`, `> 1024`, `in [22 80]`.
struct MatchText<'a, T>(&'a Match<T>);

impl<T: fmt::Display> fmt::Display for MatchText<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Match::Cmp(Cmp::Eq, n) => write!(f, "{n}"),
            Match::Cmp(cmp, n) => write!(f, "{} {n}", cmp.symbol()),
            Match::In(items) => write!(f, "in [{}]", join(items)),
        }
    }
}

/// Items separated by blanks.
fn join<T: fmt::Display>(items: &[T]) -> String {
    join_with(items, " ")
}

/// Items separated by `separator`.
fn join_with<T: fmt::Display>(items: &[T], separator: &str) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(separator)
}
