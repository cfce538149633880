//! nfdump's filter language (the common subset), compiled into a DataFusion expression over the
//! flow schema, ready for a `DataFrame::filter` or a SQL `WHERE`:
//!
//! ```
//! use flowfold_engine::sql::nfdump_filter::compile;
//!
//! let expr = compile("proto tcp and dst port in [80 443] and not net 10.0.0.0/8").unwrap();
//! assert!(expr.to_string().contains("dst_port"));
//! let err = compile("port http").unwrap_err();
//! assert_eq!(err.to_string(), "at 5: expected a port number after 'port', found 'http'");
//! ```
//!
//! # Grammar
//!
//! Keywords are case-insensitive; `#` starts a comment running to the end of the line; blanks
//! and newlines separate tokens. `not` binds tighter than `and`, which binds tighter than `or`.
//!
//! ```text
//! filter = or
//! or     = and { ("or" | "||") and }
//! and    = unary { ("and" | "&&") unary }
//! unary  = ("not" | "!") unary | "(" or ")" | test
//! test   = "any"                                          every flow
//!        | "ipv4" | "inet" | "ipv6" | "inet6"             address family (of src_addr)
//!        | [dir] ("ip" | "host") ADDR                     src_addr/dst_addr equals ADDR
//!        | [dir] ("ip" | "host") "in" "[" ITEM... "]"     ... is one of (ITEM = ADDR or ADDR/LEN)
//!        | [dir] "net" ADDR "/" LEN                       ... is in the network (v4 or v6)
//!        | [dir] "net" IPV4 MASK                          ... IPv4 with a dotted netmask
//!        | [dir] "port" [cmp] N | [dir] "port" "in" "[" N... "]"
//!        | [dir] "as" [cmp] N   | [dir] "as" "in" "[" N... "]"
//!        | "proto" (NAME | N)                             tcp, udp, icmp, icmp6, gre, ..., or 0..255
//!        | ["in" | "out"] "if" N                          input_if / output_if / either
//!        | "flags" LETTERS | "flags" [cmp] N              TCP flags (imply proto tcp)
//!        | ["src"] "tos" [cmp] N
//!        | ("packets" | "bytes" | "flows" | "duration" | "pps" | "bps" | "bpp") [cmp] N
//! dir    = "src" | "dst" | "src or dst" | "dst or src" | "src and dst" | "dst and src"
//! cmp    = "=" | "==" | "eq" | ">" | "gt" | "<" | "lt" | ">=" | "ge" | "<=" | "le"
//! N      = decimal, with an optional k, m, g or t (×1000 each: 1k = 1000), or 0x hex
//! ```
//!
//! List items are separated by blanks or commas. Without `dir`, either the source or the
//! destination may match; `src and dst` needs both. Without `cmp`, `=` is meant.
//!
//! # Meaning
//!
//! - Addresses: an IPv4 address or network matches only IPv4 addresses; an IPv6 network matches
//!   by its IPv6 prefix. Host bits after the prefix are ignored (`net 10.1.2.3/8` is
//!   `10.0.0.0/8`). IPv4 networks may be shortened before a length (`net 172.16/16`).
//! - `flags`: letters `U A P R S F` (`X` = all six), in any order and case; the test holds when
//!   the flow is TCP and every given flag is set. Under an odd number of `not`s it means "TCP and
//!   any of the flags set", as in nfdump, so `flags S and not flags AFRPU` selects flows with
//!   only SYN set. `flags [cmp] N` compares the low 8 flag bits as a number.
//! - `duration` is `flow_end - flow_start` in milliseconds. `pps` is `packets * 1000 / duration`,
//!   `bps` is `bytes * 8000 / duration` (integer division), both 0 when the duration is 0;
//!   `bpp` is `bytes / packets`, 0 without packets. These are nfdump's definitions.
//! - `flows`: every stored record is one flow, so `flows [cmp] N` holds for all flows or none.
//! - Absent (NULL) fields: a test reading one is false, so `not` of it is true (nfdump stores 0
//!   for an absent field, so `src as 0` matches there, not here). A flow whose `flow_end` is
//!   before its `flow_start` has no `pps`/`bps` either (nfdump wraps around).
//!
//! # Not supported
//!
//! Everything else of nfdump's language is refused with an error naming it: host names (no DNS
//! lookups), `@include`, `ident`, `count`, `tun...`, `geo`, `mac`, `mpls`, `vlan`, `mask`,
//! `next ip`, `bgpnext ip`, `router ip`, `icmp-type`, `icmp-code`, `engine-type`, `engine-id`,
//! `sysid`, `in`/`out packets`/`bytes`, `dst tos`, `flowdir`, `fwdstat`, latencies, NSEL/NEL
//! (`asa`, `nat`, `xip`, ...), `payload`, observation ids, `prev`/`next as`, `%labels`,
//! non-contiguous netmasks. An empty filter is an error (nfdump passes every flow).
//!
//! Accepted beyond nfdump 1.7.1: lower-case flag letters, protocol names nfdump's lexer takes as
//! keywords (`proto ipv6`), `ipv6-icmp`, `net 10/8`, a network after a comma in `ip in [...]`,
//! flags values up to 255.
//!
//! Different from nfdump 1.7.1 on purpose: `net ::/0` matches every address (nfdump's /0 masks
//! shift past 64 bits and match IPv4 only); IPv4 addresses never match IPv6 flows (nfdump also
//! matches the IPv4-compatible `::a.b.c.d`); absent fields (above).

mod address;
mod ast;
mod compile;
mod cursor;
mod error;
mod flags;
mod lexer;
mod net;
mod parser;
mod primitive;
mod protocol;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

use datafusion::logical_expr::Expr;

pub use error::FilterError;

/// A parsed filter. [`Filter::to_expr`] gives its DataFusion expression; printing it gives its
/// canonical text (every `and`/`or` in parentheses, numbers in decimal, protocols as numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    root: ast::Node,
}

impl Filter {
    /// The boolean expression selecting the flows the filter matches, over the flow schema
    /// (columns by their unqualified names).
    pub fn to_expr(&self) -> Expr {
        compile::to_expr(&self.root)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// Parses a filter (see the module docs for the language); a bad one is an error naming the
/// cause and its byte offset in `text`.
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    parser::parse(text).map(|root| Filter { root })
}

/// Parses a filter and returns its expression: `parse_filter(text)?.to_expr()`.
pub fn compile(text: &str) -> Result<Expr, FilterError> {
    parse_filter(text).map(|filter| filter.to_expr())
}
