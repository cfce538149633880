//! One test of a filter (nfdump's "primitives"), by its keyword (any case):
//!
//! ```text
//! test = "any" | "ipv4" | "inet" | "ipv6" | "inet6"
//!      | [dir] ("ip" | "host") (ADDR | "in" "[" { ADDR | ADDR "/" LEN } "]")
//!      | [dir] "net" (ADDR "/" LEN | IPV4 MASK)
//!      | [dir] "port" ([cmp] N | "in" "[" { N } "]")
//!      | [dir] "as" ([cmp] N | "in" "[" { N } "]")
//!      | "proto" (NAME | N)
//!      | ["in" | "out"] "if" N
//!      | "flags" (LETTERS | [cmp] N)
//!      | ["src"] "tos" [cmp] N
//!      | ("packets" | "bytes" | "flows" | "duration" | "pps" | "bps" | "bpp") [cmp] N
//! dir  = "src" | "dst" | "src or dst" | "dst or src" | "src and dst" | "dst and src"
//! ```

use super::address::{address_list, host, network};
use super::ast::{AddrMatch, Counter, Dir, IfSide, Node, NodeKind, Span, Test};
use super::cursor::Cursor;
use super::error::FilterError;
use super::flags::flags;
use super::lexer::{Tok, Token};
use super::protocol::protocol;
use super::value::{AS, COUNT, DURATION, INTERFACE, PORT, TOS, bounded, cmp, number, number_match};

/// The tests there are, for "expected a test" messages.
const TESTS: &str = "any, ip, host, net, port, as, proto, if, flags, tos, packets, bytes, flows, duration, pps, bps, \
                     bpp, ipv4 or ipv6";

/// nfdump keywords of tests flowfold does not support (named as such in errors).
const NFDUMP_ONLY: [&str; 37] = [
    "ident",
    "count",
    "tun",
    "tunip",
    "geo",
    "mac",
    "mpls",
    "vlan",
    "mask",
    "next",
    "bgpnext",
    "router",
    "icmp-type",
    "icmp-code",
    "engine-type",
    "engine-id",
    "sysid",
    "flowdir",
    "dir",
    "fwdstat",
    "client",
    "server",
    "app",
    "asa",
    "nat",
    "xip",
    "xnet",
    "xport",
    "nip",
    "nport",
    "ingress",
    "egress",
    "payload",
    "observation",
    "prev",
    "previous",
    "nfversion",
];

/// What may follow `src`/`dst`.
const QUALIFIED: &str = "ip, host, net, port, as or tos";

/// Parses one test.
pub(crate) fn parse_test(cursor: &mut Cursor<'_>) -> Result<Node, FilterError> {
    let start = cursor.peek().span.start;
    let test = test(cursor)?;
    Ok(Node {
        kind: NodeKind::Test(test),
        span: Span {
            start,
            end: cursor.last_end(),
        },
    })
}

fn test(cursor: &mut Cursor<'_>) -> Result<Test, FilterError> {
    let next = cursor.peek();
    if next.tok != Tok::Word {
        return Err(cursor.expected(&format!("a test ({TESTS})")));
    }
    let keyword = next.text.to_ascii_lowercase();
    match keyword.as_str() {
        "src" | "dst" => {
            let dir = direction(cursor);
            qualified(cursor, dir, Some(next))
        }
        "ip" | "host" | "net" | "port" | "as" | "tos" => qualified(cursor, Dir::Either, None),
        "in" | "out" => {
            cursor.advance();
            if !cursor.eat_word("if") {
                return Err(cursor.expected("'if'"));
            }
            let side = if keyword == "in" { IfSide::In } else { IfSide::Out };
            Ok(Test::Interface(side, bounded(cursor, INTERFACE)?))
        }
        _ => {
            cursor.advance();
            unqualified(cursor, &keyword, next)
        }
    }
}

/// Tests that take no `src`/`dst`; `keyword` (the token `token`) is consumed.
fn unqualified(cursor: &mut Cursor<'_>, keyword: &str, token: Token<'_>) -> Result<Test, FilterError> {
    let counter = |counter: Counter, cursor: &mut Cursor<'_>| -> Result<Test, FilterError> {
        let cmp = cmp(cursor);
        let kind = if counter == Counter::Duration { DURATION } else { COUNT };
        Ok(Test::Counter(counter, cmp, number(cursor, kind)?.0))
    };
    match keyword {
        "any" => Ok(Test::Any),
        "ipv4" | "inet" => Ok(Test::Ipv6(false)),
        "ipv6" | "inet6" => Ok(Test::Ipv6(true)),
        "proto" => Ok(Test::Proto(protocol(cursor)?)),
        "if" => Ok(Test::Interface(IfSide::Either, bounded(cursor, INTERFACE)?)),
        "flags" => Ok(Test::Flags(flags(cursor)?)),
        "packets" => counter(Counter::Packets, cursor),
        "bytes" => counter(Counter::Bytes, cursor),
        "flows" => counter(Counter::Flows, cursor),
        "duration" => counter(Counter::Duration, cursor),
        "pps" => counter(Counter::Pps, cursor),
        "bps" => counter(Counter::Bps, cursor),
        "bpp" => counter(Counter::Bpp, cursor),
        _ if NFDUMP_ONLY.contains(&keyword) => Err(FilterError::new(
            token.span.start,
            format!("nfdump's '{}' test is not supported", token.text),
        )),
        _ => Err(FilterError::new(
            token.span.start,
            format!("unknown test '{}': expected {TESTS}", token.text),
        )),
    }
}

/// `src`, `dst`, `src or dst`, `src and dst` (and the same with `dst` first), consumed.
fn direction(cursor: &mut Cursor<'_>) -> Dir {
    let first = cursor.advance();
    let other = if first.is_word("src") { "dst" } else { "src" };
    let joiner = cursor.peek();
    let both = joiner.tok == Tok::And || joiner.is_word("and");
    let either = joiner.tok == Tok::Or || joiner.is_word("or");
    if (both || either) && cursor.peek_at(1).is_word(other) {
        cursor.advance();
        cursor.advance();
        return if both { Dir::Both } else { Dir::Either };
    }
    if first.is_word("src") { Dir::Src } else { Dir::Dst }
}

/// Tests that may take `src`/`dst`; `qualifier` is the `src`/`dst` token if one was given.
fn qualified(cursor: &mut Cursor<'_>, dir: Dir, qualifier: Option<Token<'_>>) -> Result<Test, FilterError> {
    let next = cursor.peek();
    let keyword = if next.tok == Tok::Word {
        next.text.to_ascii_lowercase()
    } else {
        String::new()
    };
    match keyword.as_str() {
        "ip" | "host" => {
            cursor.advance();
            if cursor.eat_word("in") {
                Ok(Test::Addr(dir, AddrMatch::In(address_list(cursor)?)))
            } else {
                Ok(Test::Addr(dir, AddrMatch::Host(host(cursor)?)))
            }
        }
        "net" => {
            cursor.advance();
            Ok(Test::Addr(dir, AddrMatch::Net(network(cursor)?)))
        }
        "port" => {
            cursor.advance();
            Ok(Test::Port(dir, number_match(cursor, PORT)?))
        }
        "as" => {
            cursor.advance();
            Ok(Test::As(dir, number_match(cursor, AS)?))
        }
        "tos" => {
            if dir != Dir::Src && qualifier.is_some() {
                return Err(FilterError::new(
                    qualifier.map_or(next.span.start, |q| q.span.start),
                    "only 'tos' or 'src tos' is supported: flows carry one ToS value",
                ));
            }
            cursor.advance();
            let cmp = cmp(cursor);
            Ok(Test::Tos(cmp, bounded(cursor, TOS)?))
        }
        _ => Err(cursor.expected(QUALIFIED)),
    }
}
