//! Bad filters: each error names the cause and where it is (a byte offset).

use super::super::parser::MAX_DEPTH;
use super::super::{FilterError, parse_filter};

/// The error of a filter that must not parse.
fn error(text: &str) -> FilterError {
    match parse_filter(text) {
        Ok(filter) => panic!("{text:?} parsed as {filter}"),
        Err(err) => err,
    }
}

/// Asserts the error's position and message.
fn assert_error(text: &str, position: usize, message: &str) {
    let err = error(text);
    assert_eq!((err.position, err.message.as_str()), (position, message), "{text:?}");
}

#[test]
fn display_puts_the_position_first() {
    assert_eq!(
        error("port http").to_string(),
        "at 5: expected a port number after 'port', found 'http'"
    );
}

#[test]
fn unknown_keywords() {
    let err = error("prot tcp");
    assert_eq!(err.position, 0);
    assert!(
        err.message
            .starts_with("unknown test 'prot': expected any, ip, host, net, port"),
        "{err}"
    );
    assert_error("port 80 and vlan 5", 12, "nfdump's 'vlan' test is not supported");
    assert_error("ICMP-TYPE 8", 0, "nfdump's 'ICMP-TYPE' test is not supported");
    assert_error(
        "src proto tcp",
        4,
        "expected ip, host, net, port, as or tos after 'src', found 'proto'",
    );
    assert_error("in port 80", 3, "expected 'if' after 'in', found 'port'");
    assert_error(
        "dst tos 0",
        0,
        "only 'tos' or 'src tos' is supported: flows carry one ToS value",
    );
    assert_error("proto foo", 6, "unknown protocol 'foo'");
}

#[test]
fn missing_or_bad_numbers() {
    assert_error("port", 4, "expected a port number after 'port', found end of filter");
    assert_error("src port > and", 11, "expected a port number after '>', found 'and'");
    assert_error("packets > 12ab", 10, "'12ab' is not a number");
    assert_error("bytes > 99999999999999999999", 8, "'99999999999999999999' is too large");
    assert_error("port 70000", 5, "port number 70000 is out of range 0..=65535");
    assert_error("proto 300", 6, "protocol number 300 is out of range 0..=255");
    assert_error("tos 256", 4, "ToS value 256 is out of range 0..=255");
    assert_error(
        "as 4294967296",
        3,
        "AS number 4294967296 is out of range 0..=4294967295",
    );
    assert_error("in if -1", 6, "expected an interface number after 'if', found '-1'");
    assert_error(
        "duration > 9223372036854775808",
        11,
        "duration 9223372036854775808 is out of range 0..=9223372036854775807",
    );
    assert_error("flows", 5, "expected a number after 'flows', found end of filter");
}

#[test]
fn bad_addresses_and_networks() {
    assert_error("ip 10.0.0.256", 3, "'10.0.0.256' is not an IPv4 or IPv6 address");
    assert_error(
        "host example",
        5,
        "'example' is not an IP address (host names are not looked up)",
    );
    assert_error("ip", 2, "expected an IP address after 'ip', found end of filter");
    assert_error(
        "ip 10.0.0.0/8",
        11,
        "'ip' and 'host' take one address: write 'net 10.0.0.0/...' for a network",
    );
    assert_error("net 10.0.0.0/33", 13, "prefix length 33 is over 32 for IPv4");
    assert_error("net 2001:db8::/129", 15, "prefix length 129 is out of range 0..=128");
    assert_error(
        "net 10.0/24",
        9,
        "prefix length 24 is longer than the 16 bits '10.0' gives",
    );
    assert_error(
        "net 10.0.0.0",
        12,
        "expected '/' and a prefix length, or a netmask after '10.0.0.0', found end of filter",
    );
    assert_error(
        "net 10.0.0.0 255.0.255.0",
        13,
        "netmask '255.0.255.0' is not contiguous (its one bits must all come first)",
    );
    assert_error(
        "net 2001:db8:: ffff::",
        15,
        "a netmask is for IPv4 networks only: write 'net 2001:db8::/LEN' for an IPv6 network",
    );
    assert_error("net 1.2.3.4.5/8", 4, "'1.2.3.4.5' is not an IPv4 or IPv6 address");
}

#[test]
fn unclosed_parentheses_and_brackets() {
    assert_error("(port 80 or port 443", 0, "'(' is never closed");
    assert_error("port 80 and (proto tcp", 12, "'(' is never closed");
    assert_error(
        "(port 80 port 443)",
        9,
        "expected ')' to close the '(' at 0, or 'and'/'or', found 'port'",
    );
    assert_error("port in [80 443", 8, "'[' is never closed");
    assert_error("ip in [10.0.0.1", 6, "'[' is never closed");
    assert_error("port in []", 8, "the list is empty");
    assert_error("port in 80", 8, "expected '[' to start a list after 'in', found '80'");
    assert_error("port in [80 x]", 12, "expected a port number after '80', found 'x'");
    assert_error(
        "ip in [10.0.0.1 (]",
        16,
        "expected an address or network or ']' in the list, found '('",
    );
}

#[test]
fn trailing_input_and_missing_operands() {
    assert_error(
        "port 80 port 443",
        8,
        "unexpected 'port' after a complete test: join tests with 'and' or 'or'",
    );
    assert_error("port 80)", 7, "')' without a matching '('");
    assert_error(
        "port 80 and",
        11,
        &format!("expected a test ({}) after 'and', found end of filter", TESTS),
    );
    assert_error(
        "not",
        3,
        &format!("expected a test ({}) after 'not', found end of filter", TESTS),
    );
    assert_error("()", 1, &format!("expected a test ({}) after '(', found ')'", TESTS));
    assert_error("", 0, "the filter is empty: write a test, or 'any' for every flow");
    assert_error(
        "  # nothing here\n",
        0,
        "the filter is empty: write a test, or 'any' for every flow",
    );
}

const TESTS: &str = "any, ip, host, net, port, as, proto, if, flags, tos, packets, bytes, flows, duration, pps, bps, \
                     bpp, ipv4 or ipv6";

#[test]
fn bad_flags_and_characters() {
    assert_error(
        "flags SYN",
        6,
        "'SYN' is not a set of TCP flags: use the letters U A P R S F, or X for all",
    );
    assert_error(
        "flags",
        5,
        "expected TCP flags (letters of UAPRSF) or a number after 'flags', found end of filter",
    );
    assert_error("port 80 ; port 443", 8, "unexpected character ';'");
    assert_error(
        "packets != 5",
        8,
        "'!=' is not a comparison: write 'not' before the test instead",
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}any{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    let err = error(&deep);
    assert_eq!(err.position, MAX_DEPTH);
    assert!(err.message.contains("more than 200 deep"), "{err}");
    let nots = format!("{}any", "not ".repeat(MAX_DEPTH + 1));
    assert_eq!(error(&nots).position, 4 * MAX_DEPTH);
    let fine = format!("{}any{}", "(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
    assert!(parse_filter(&fine).is_ok());
}

#[test]
fn long_chains_are_fine() {
    let chain = vec!["port 80"; 20_000].join(" or ");
    let filter = parse_filter(&chain).unwrap();
    let expr = filter.to_expr();
    assert!(expr.to_string().contains("src_port = UInt16(80)"));
}
