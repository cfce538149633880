//! The filter cases, covering every construct flowfold supports. Each one's flow, packet and
//! byte totals must equal nfdump's over the same flows.
//!
//! Left out on purpose (flowfold differs, see `engine::sql::nfdump_filter`): IPv4-compatible
//! IPv6 addresses (`::198.51.100.7`, which nfdump's IPv4 tests match), `net ::/0`, absent fields.

use engine::FlowRecord;

/// Cases nfdump 1.7.1 evaluates itself.
pub const NFDUMP: &[&str] = &[
    // any, hosts (v4, v6, src/dst), networks (/len, netmask, shortened, v6 up to /65, /0)
    "any",
    "not any",
    "ip 198.51.100.7",
    "host 2001:db8:ffff::1",
    "src ip 198.51.100.7",
    "dst host 203.0.113.9",
    "src ip 198.51.100.7 or dst ip 2001:db8:ffff:1::2",
    "net 10.0.0.0/8",
    "src net 172.16.0.0/12",
    "dst net 192.168.0.0 255.255.0.0",
    "net 172.16/16",
    "net 10.20.0.0 255.255.0.0 and not net 10.20.64.0/18",
    "net 2001:db8:100::/48",
    "src net 2001:db8:100:f000::/52",
    "dst net 2001:db8:100::/64",
    "net 2001:db8:ffff::8000:0:0:0/65",
    "net 0.0.0.0/0",
    "src and dst net 10.0.0.0/8",
    // address lists of hosts and networks of both families (nfdump takes a network only after a
    // blank, not after a comma)
    "ip in [198.51.100.7 203.0.113.0/24]",
    "src ip in [10.10.0.0/16 192.168.0.0/16 2001:db8:100:f000::/56]",
    "dst ip in [ 2001:db8:ffff:1::2, 198.51.100.200 ]",
    // ports: every comparison operator, both spellings, lists, directions
    "port 443",
    "src port 53",
    "dst port > 1024",
    "port < 100",
    "dst port >= 8080",
    "src port <= 80",
    "port eq 22",
    "dst port gt 60000",
    "src port lt 1024 and dst port ge 32768",
    "port le 25",
    "port == 0",
    "port = 65535",
    "port in [22 25, 80]",
    "dst port in [53,123,161]",
    "src and dst port > 1024",
    "src or dst port 443",
    // protocols by name (any case), number and hex
    "proto tcp",
    "proto UDP",
    "proto icmp",
    "proto icmp6",
    "proto 58",
    "proto gre",
    "proto 50",
    "proto 0x11",
    // interfaces
    "in if 3",
    "out if 5",
    "if 2",
    "in if 70000",
    // TCP flags, including nfdump's meaning of `not flags`
    "flags S",
    "flags SA",
    "flags AS and not flags F",
    "flags S and not flags AFRPU",
    "not flags SA",
    "flags U",
    "flags X",
    "flags 2",
    "flags > 16",
    "not (flags F or port 53)",
    // type of service
    "tos 0",
    "tos > 32",
    "tos 184",
    "src tos 72",
    "tos eq 255",
    // counters with k/m/g (x1000)
    "packets > 1k",
    "packets >= 1000",
    "packets > 1024",
    "packets < 5",
    "bytes > 1m",
    "bytes >= 1M",
    "bytes > 1500",
    "bytes < 1k",
    "bytes >= 1g",
    "flows > 0",
    "flows > 1",
    "flows = 1",
    // duration (ms) and rates, zero durations included
    "duration = 0",
    "duration > 1000",
    "duration >= 1k",
    "duration < 50",
    "pps > 100",
    "pps = 0",
    "pps >= 1k",
    "bps > 1m",
    "bps = 0",
    "bps >= 8m",
    "bpp > 1000",
    "bpp < 100",
    "bpp = 1000",
    // precedence, parentheses, operators, comments, case
    "proto tcp and not port 443 or proto udp and port 53",
    "not proto tcp and port 53",
    "not (proto tcp and port 443)",
    "(port 80 or port 443) and net 10.0.0.0/8",
    "proto tcp && (port 22 || port 25)",
    "!proto udp",
    "proto udp # dns only\n and port 53",
    "PROTO TCP AND NOT PORT 443",
    "not not (port 80)",
    "(((proto tcp)))",
    "ipv4",
    "ipv6",
    "inet6 and proto icmp6",
];

/// A reference predicate over nfdump's decoded flows.
pub type Reference = fn(&FlowRecord) -> bool;

/// Cases nfdump 1.7.1 refuses to evaluate ("Can not filter according geo elements without a geo
/// location DB": it marks `as` tests as geo tests), checked against nfdump's decoded AS fields.
pub const AS_CASES: &[(&str, Reference)] = &[
    ("as 64512", |f| f.src_as == Some(64_512) || f.dst_as == Some(64_512)),
    ("src as 15169", |f| f.src_as == Some(15_169)),
    ("dst as > 60000", |f| f.dst_as.is_some_and(|a| a > 60_000)),
    ("as in [13335 54113]", |f| {
        [f.src_as, f.dst_as].iter().any(|a| matches!(a, Some(13_335 | 54_113)))
    }),
    ("src and dst as 64512", |f| {
        f.src_as == Some(64_512) && f.dst_as == Some(64_512)
    }),
    ("src as 4200000000", |f| f.src_as == Some(4_200_000_000)),
    ("not as 0", |f| f.src_as != Some(0) && f.dst_as != Some(0)),
];
