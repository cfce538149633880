//! Parsing: precedence, grouping, the canonical text of every test, comments, case, spans.

use super::super::ast::{NodeKind, Span};
use super::super::parse_filter;

/// The canonical text of a filter that must parse.
fn canon(text: &str) -> String {
    match parse_filter(text) {
        Ok(filter) => filter.to_string(),
        Err(err) => panic!("{text:?} did not parse: {err}"),
    }
}

#[test]
fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
    assert_eq!(
        canon("port 1 or port 2 and not port 3"),
        "(port 1 or (port 2 and not port 3))"
    );
    assert_eq!(canon("not port 1 and port 2"), "(not port 1 and port 2)");
    assert_eq!(canon("port 1 and port 2 or port 3"), "((port 1 and port 2) or port 3)");
    assert_eq!(canon("not not port 1"), "not not port 1");
    assert_eq!(
        canon("port 1 || port 2 && ! port 3"),
        "(port 1 or (port 2 and not port 3))"
    );
}

#[test]
fn parentheses_group_and_chains_stay_flat() {
    assert_eq!(
        canon("(port 1 or port 2) and port 3"),
        "((port 1 or port 2) and port 3)"
    );
    assert_eq!(canon("not (port 1 and port 2)"), "not (port 1 and port 2)");
    assert_eq!(canon("((any))"), "any");
    assert_eq!(canon("port 1 or port 2 or port 3"), "(port 1 or port 2 or port 3)");
    assert_eq!(canon("port 1 and port 2 and port 3"), "(port 1 and port 2 and port 3)");
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(
        canon("PROTO TCP AND NOT SRC PORT GT 1K"),
        "(proto 6 and not src port > 1000)"
    );
    assert_eq!(
        canon("Net 10.0.0.0/8 Or Host 192.0.2.1"),
        "(net 10.0.0.0/8 or ip 192.0.2.1)"
    );
    assert_eq!(canon("ANY"), "any");
    assert_eq!(canon("flags sa"), "flags AS");
    assert_eq!(canon("PORT IN [80]"), "port in [80]");
}

#[test]
fn comments_and_line_breaks() {
    assert_eq!(
        canon("proto udp # dns\n  and port 53 # the end"),
        "(proto 17 and port 53)"
    );
    assert_eq!(canon("# only web\nport 443"), "port 443");
    assert_eq!(canon("port 80 #and port 443"), "port 80");
}

#[test]
fn addresses_networks_and_lists() {
    assert_eq!(canon("host 2001:DB8::1"), "ip 2001:db8::1");
    assert_eq!(canon("src ip 192.0.2.1"), "src ip 192.0.2.1");
    assert_eq!(canon("dst net 10.1.2.3/8"), "dst net 10.0.0.0/8");
    assert_eq!(canon("net 10.0.0.0 255.255.240.0"), "net 10.0.0.0/20");
    assert_eq!(canon("net 172.16/12"), "net 172.16.0.0/12");
    assert_eq!(canon("net 10/8"), "net 10.0.0.0/8");
    assert_eq!(canon("net 2001:db8:1::ff/32"), "net 2001:db8::/32");
    assert_eq!(canon("net 192.0.2.1/32"), "net 192.0.2.1/32");
    assert_eq!(canon("net 0.0.0.0/0"), "net 0.0.0.0/0");
    assert_eq!(
        canon("ip in [10.0.0.1, 2001:db8::/32 192.168/16,]"),
        "ip in [10.0.0.1 2001:db8::/32 192.168.0.0/16]"
    );
    assert_eq!(canon("src host in [ ::1 ]"), "src ip in [::1]");
}

#[test]
fn directions() {
    assert_eq!(canon("src and dst port > 1024"), "src and dst port > 1024");
    assert_eq!(canon("dst and src port > 1024"), "src and dst port > 1024");
    assert_eq!(canon("dst or src port 80"), "port 80");
    assert_eq!(canon("src or dst net 10/8"), "net 10.0.0.0/8");
    assert_eq!(canon("dst as in [1, 2]"), "dst as in [1 2]");
    // `src` followed by a test joined with `and` is not a qualifier.
    assert_eq!(canon("src port 1 and dst port 2"), "(src port 1 and dst port 2)");
}

#[test]
fn numbers_comparisons_and_counters() {
    assert_eq!(canon("port eq 22"), "port 22");
    assert_eq!(canon("port == 22"), "port 22");
    assert_eq!(canon("port = 22"), "port 22");
    assert_eq!(canon("port lt 1024"), "port < 1024");
    assert_eq!(canon("port<=1024"), "port <= 1024");
    assert_eq!(canon("port ge 0x400"), "port >= 1024");
    assert_eq!(canon("bytes > 1m"), "bytes > 1000000");
    assert_eq!(canon("packets > 2G"), "packets > 2000000000");
    assert_eq!(canon("flows 1"), "flows 1");
    assert_eq!(canon("duration >= 1k"), "duration >= 1000");
    assert_eq!(
        canon("pps > 1k and bps < 1m and bpp 100"),
        "(pps > 1000 and bps < 1000000 and bpp 100)"
    );
    assert_eq!(canon("as 64512"), "as 64512");
    assert_eq!(canon("src tos ge 8"), "tos >= 8");
}

#[test]
fn protocols_flags_and_interfaces() {
    assert_eq!(canon("proto icmp"), "proto 1");
    assert_eq!(canon("proto ICMP6"), "proto 58");
    assert_eq!(canon("proto ipv6-icmp"), "proto 58");
    assert_eq!(canon("proto 47"), "proto 47");
    assert_eq!(canon("proto 0x11"), "proto 17");
    assert_eq!(canon("proto 0hop"), "proto 114");
    assert_eq!(canon("flags X"), "flags UAPRSF");
    assert_eq!(canon("flags FS"), "flags SF");
    assert_eq!(canon("flags > 16"), "flags > 16");
    assert_eq!(canon("flags 2"), "flags 2");
    assert_eq!(canon("in if 3"), "in if 3");
    assert_eq!(canon("OUT IF 4"), "out if 4");
    assert_eq!(canon("if 5"), "if 5");
    assert_eq!(canon("inet or ipv6"), "(ipv4 or ipv6)");
}

#[test]
fn nodes_carry_the_span_of_their_text() {
    let text = "port 80 and not (proto tcp)";
    let filter = parse_filter(text).unwrap();
    assert_eq!(filter.root.span, Span { start: 0, end: 26 });
    let NodeKind::And(items) = &filter.root.kind else {
        panic!("expected and: {filter}");
    };
    assert_eq!(items[0].span, Span { start: 0, end: 7 });
    assert_eq!(&text[items[0].span.start..items[0].span.end], "port 80");
    assert_eq!(items[1].span, Span { start: 12, end: 26 });
    let NodeKind::Not(inner) = &items[1].kind else {
        panic!("expected not: {filter}");
    };
    assert_eq!(&text[inner.span.start..inner.span.end], "proto tcp");
}

#[test]
fn every_prefix_of_a_filter_parses_or_fails_without_panicking() {
    let text = "not (src net 10.0.0.0 255.0.0.0 or dst ip in [2001:db8::/32, 192.0.2.1]) and \
                port in [80 443] and flags SA and bytes > 1k # done";
    for end in 0..=text.len() {
        let prefix = &text[..end];
        if let Err(err) = parse_filter(prefix) {
            assert!(err.position <= prefix.len(), "{prefix:?}: {err}");
        }
    }
    assert!(parse_filter(text).is_ok());
}
