//! The synthetic network the generator draws from: host pools (a few thousand IPv4 hosts in a
//! handful of /16s, IPv6 hosts in one /48), service ports, and the small tables for flags and
//! type of service. Everything is built once, deterministically, before the first flow.

use engine::addr::{Addr16, from_v4_u32};

use super::alias::AliasTable;

/// An IPv4 /16 with the AS that originates it and the mask exporters report for its hosts.
struct Prefix16 {
    net: u32,
    asn: u32,
    mask: u8,
}

const fn p16(a: u32, b: u32, asn: u32, mask: u8) -> Prefix16 {
    Prefix16 {
        net: (a << 24) | (b << 16),
        asn,
        mask,
    }
}

/// Internal networks: clients live here (private space, private AS numbers).
const INTERNAL: [Prefix16; 4] = [
    p16(10, 10, 64_512, 24),
    p16(10, 20, 64_512, 24),
    p16(172, 16, 64_513, 22),
    p16(192, 168, 64_514, 24),
];

/// External networks: most servers live here (documentation-free but plausible public /16s).
const EXTERNAL: [Prefix16; 6] = [
    p16(142, 250, 15_169, 16),
    p16(104, 16, 13_335, 13),
    p16(151, 101, 54_113, 16),
    p16(52, 84, 16_509, 14),
    p16(157, 240, 32_934, 16),
    p16(93, 184, 15_133, 24),
];

/// The IPv6 /48 every v6 host lives in (`2001:db8:100::/48`).
const V6_PREFIX: [u8; 6] = [0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00];
/// AS numbers of v6 clients and v6 servers.
const V6_CLIENT_AS: u32 = 64_512;
const V6_SERVER_AS: u32 = 64_520;

/// TCP services by popularity (weights), 443 first.
pub(crate) const TCP_SERVICES: [(u16, f64); 16] = [
    (443, 40.0),
    (80, 14.0),
    (22, 5.0),
    (25, 3.0),
    (993, 3.0),
    (8080, 3.0),
    (3306, 2.5),
    (5432, 2.0),
    (8443, 2.0),
    (445, 1.5),
    (3389, 1.5),
    (6379, 1.0),
    (9200, 1.0),
    (27017, 0.8),
    (143, 0.6),
    (110, 0.4),
];

/// UDP services by popularity, DNS first (QUIC second).
pub(crate) const UDP_SERVICES: [(u16, f64); 9] = [
    (53, 40.0),
    (443, 20.0),
    (123, 10.0),
    (161, 6.0),
    (514, 5.0),
    (5060, 4.0),
    (1194, 3.0),
    (51_820, 3.0),
    (4500, 2.0),
];

/// ICMP type/code pairs by frequency (as `type * 256 + code`).
pub(crate) const ICMP_V4: [(u16, f64); 6] = [
    (8 << 8, 40.0),
    (0, 38.0),
    (3 << 8 | 3, 10.0),
    (3 << 8 | 1, 4.0),
    (3 << 8 | 13, 3.0),
    (11 << 8, 5.0),
];

/// ICMPv6 type/code pairs by frequency.
pub(crate) const ICMP_V6: [(u16, f64); 5] = [
    (128 << 8, 40.0),
    (129 << 8, 38.0),
    (1 << 8 | 4, 10.0),
    (3 << 8, 6.0),
    (135 << 8, 6.0),
];

/// Cumulative TCP flags of multi-packet flows.
pub(crate) const TCP_FLAGS: [(u16, f64); 7] = [
    (0x1b, 45.0), // FIN PSH ACK SYN
    (0x1a, 12.0), // PSH ACK SYN
    (0x18, 12.0), // PSH ACK
    (0x10, 10.0), // ACK
    (0x1f, 6.0),  // FIN SYN RST PSH ACK
    (0x11, 8.0),  // FIN ACK
    (0x1e, 7.0),  // SYN RST PSH ACK
];

/// Flags of single-packet TCP flows (scans, stray ACKs, resets).
pub(crate) const TCP_FLAGS_ONE: [(u16, f64); 4] = [(0x02, 50.0), (0x10, 25.0), (0x14, 15.0), (0x04, 10.0)];

/// Type-of-service values (best effort dominates).
pub(crate) const TOS: [(u8, f64); 5] = [(0, 85.0), (0x28, 5.0), (0x48, 4.0), (0xb8, 4.0), (0x10, 2.0)];

/// A value table with its alias sampler.
#[derive(Debug, Clone)]
pub(crate) struct Weighted<T: Copy> {
    values: Vec<T>,
    table: AliasTable,
}

impl<T: Copy> Weighted<T> {
    /// From `(value, weight)` pairs; the constant tables above all have positive weights.
    pub(crate) fn new(pairs: &[(T, f64)]) -> Self {
        let weights: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let table = AliasTable::new(&weights).expect("constant tables are non-empty and positive");
        Self {
            values: pairs.iter().map(|p| p.0).collect(),
            table,
        }
    }

    /// One draw.
    #[inline]
    pub(crate) fn sample<R: rand::RngCore>(&self, rng: &mut R) -> T {
        self.values[self.table.sample(rng)]
    }
}

/// One host: its stored address, origin AS and reported prefix length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Host {
    pub addr: Addr16,
    pub asn: u32,
    pub mask: u8,
}

/// A Zipf-ranked pool of hosts: rank 0 is the busiest.
#[derive(Debug, Clone)]
pub(crate) struct HostPool {
    hosts: Vec<Host>,
    table: AliasTable,
}

impl HostPool {
    /// One draw.
    #[inline]
    pub(crate) fn sample<R: rand::RngCore>(&self, rng: &mut R) -> &Host {
        &self.hosts[self.table.sample(rng)]
    }

    /// Number of hosts.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.hosts.len()
    }
}

/// A fixed scrambler, so host ranks land at scattered addresses (same on every run).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn v4_host(prefixes: &[Prefix16], rank: usize, salt: u64) -> Host {
    let h = mix(rank as u64 ^ salt);
    let p = &prefixes[(h % prefixes.len() as u64) as usize];
    let third = ((h >> 16) & 0xff) as u32;
    let fourth = 1 + ((h >> 24) % 254) as u32;
    Host {
        addr: from_v4_u32(p.net | (third << 8) | fourth),
        asn: p.asn,
        mask: p.mask,
    }
}

fn v6_host(rank: usize, servers: bool) -> Host {
    let h = mix(rank as u64 ^ if servers { 0x5e } else { 0xc1 });
    let mut addr = [0u8; 16];
    addr[..6].copy_from_slice(&V6_PREFIX);
    // Clients in subnets 0x0000..0x000f, servers in 0xf000..0xf00f.
    let subnet: u16 = (if servers { 0xf000 } else { 0 }) | (h & 0xf) as u16;
    addr[6..8].copy_from_slice(&subnet.to_be_bytes());
    addr[8..].copy_from_slice(&(h >> 8 | 1).to_be_bytes());
    let asn = if servers { V6_SERVER_AS } else { V6_CLIENT_AS };
    Host { addr, asn, mask: 64 }
}

fn pool(hosts: Vec<Host>, s: f64) -> HostPool {
    let table = AliasTable::zipf(hosts.len(), s).expect("host pools are non-empty");
    HostPool { hosts, table }
}

/// The four host pools: v4 clients and servers, v6 clients and servers.
#[derive(Debug, Clone)]
pub(crate) struct Hosts {
    pub v4_clients: HostPool,
    pub v4_servers: HostPool,
    pub v6_clients: HostPool,
    pub v6_servers: HostPool,
}

impl Hosts {
    /// Builds the pools (about 4,500 IPv4 and 900 IPv6 hosts).
    pub(crate) fn build() -> Self {
        let clients = (0..3_000).map(|r| v4_host(&INTERNAL, r, 0xc11e)).collect();
        // Servers: one in five internal, the rest external.
        let servers = (0..1_500)
            .map(|r| {
                if r % 5 == 4 {
                    v4_host(&INTERNAL, r, 0x5e7)
                } else {
                    v4_host(&EXTERNAL, r, 0x5e7)
                }
            })
            .collect();
        Self {
            v4_clients: pool(clients, 0.9),
            v4_servers: pool(servers, 1.1),
            v6_clients: pool((0..600).map(|r| v6_host(r, false)).collect(), 0.9),
            v6_servers: pool((0..300).map(|r| v6_host(r, true)).collect(), 1.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::addr::is_v4;

    #[test]
    fn pools_have_the_right_families_and_prefixes() {
        let h = Hosts::build();
        assert_eq!(h.v4_clients.len(), 3_000);
        assert!(h.v4_clients.hosts.iter().all(|x| is_v4(&x.addr) && x.asn >= 64_512));
        assert!(h.v4_servers.hosts.iter().all(|x| is_v4(&x.addr)));
        for host in h.v6_clients.hosts.iter().chain(&h.v6_servers.hosts) {
            assert!(!is_v4(&host.addr));
            assert_eq!(&host.addr[..6], &V6_PREFIX, "inside the /48");
        }
        let first = u32::from_be_bytes([h.v4_clients.hosts[0].addr[12], h.v4_clients.hosts[0].addr[13], 0, 0]);
        assert!(INTERNAL.iter().any(|p| p.net == first));
    }
}
