//! The flows every `.slt` file queries, written through the real [`FlowStore`] into a temporary
//! data directory. Small and regular, so every expected result can be worked out by hand.
//!
//! Times are on 2026-11-01 (UTC). A *slot* is a 5-minute window given by its start; in a slot,
//! the channel's n-th pattern (n = 0, 1, 2) starts n minutes after the slot start, so every flow
//! lies inside its slot's window, and `date_bin(INTERVAL '5 minutes', flow_start)` is the slot.
//!
//! | exporter | slots (sealed Parquet) | patterns | sealed flows |
//! |----------|------------------------|----------|--------------|
//! | 10.0.0.1 | 10:00 10:15 10:30 10:45 11:00 11:15 | A0 A1 A2 | 18 |
//! | 10.0.0.2 | 10:00 10:30 11:00 | B0 B1 | 6 |
//! | 2001:db8::1 | 10:15 10:45 11:15 | C0 C1 C2 | 9 |
//!
//! Plus one **open window**: 10.0.0.1's patterns A0 A1 A2 in slot 11:25 (3 flows), appended by
//! a second store that is kept open, so they live in an `.arrows` log, not in Parquet.
//! Total: 33 sealed + 3 open = 36 flows; 12 Parquet files (one per exporter and slot) + 1 log.
//!
//! | pattern | src → dst | proto | ports | packets/bytes | next_hop | src_as | duration |
//! |---------|-----------|-------|-------|---------------|----------|--------|----------|
//! | A0 | 192.0.2.10 → 198.51.100.1 | TCP 6 | 40000 → 443 | 10 / 5000 | 10.0.0.254 | 64500 | 30 s |
//! | A1 | 192.0.2.11 → 198.51.100.53 | UDP 17 | 50000 → 53 | 1 / 80 | NULL | NULL | 0 s |
//! | A2 | 192.0.2.200 → 198.51.100.1 | ICMP 1 | NULL | 2 / 168 | 10.0.0.254 | 64500 | NULL end |
//! | B0 | 203.0.113.5 → 198.51.100.80 | TCP 6 | 41000 → 80 | 20 / 20000 | 10.0.0.253 | 64502 | 60 s |
//! | B1 | 2001:db8:a::5 → 2001:db8:b::53 | UDP 17 | 51000 → 53 | 1 / 120 | NULL | NULL | 1 s |
//! | C0 | 2001:db8:a::10 → 2001:db8:b::1 | TCP 6 | 42000 → 443 | 15 / 9000 | 2001:db8::fe | 64510 | 45 s |
//! | C1 | 2001:db8:c::1 → 2001:db8:b::1 | ICMP6 58 | NULL | 1 / 104 | NULL | NULL | NULL end |
//! | C2 | 192.0.2.10 → 198.51.100.53 | UDP 17 | 52000 → 53 | 2 / 150 | NULL | 64500 | 2 s |
//!
//! So each pattern of 10.0.0.1 occurs 7 times (6 sealed + 1 open), each other pattern 3 times.
//! Every other field is NULL, except `observation_domain` = 1 and `dst_as` = 64501.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use engine::addr::{Addr16, from_ip};
use engine::profiles::{ChannelFilter, LIVE_PROFILE, Profile, ProfileCatalog, ProfileChannel, Retention, TimeSpan};
use engine::{FlowBatchBuilder, FlowRecord, FlowStore, StoreConfig};
use tempfile::TempDir;

/// Milliseconds in a minute.
const MINUTE_MS: i64 = 60_000;
/// 2026-11-01T10:00:00Z: day 20,758 after the Unix epoch, plus 10 hours.
const T0_MS: i64 = 20_758 * 86_400_000 + 10 * 60 * MINUTE_MS;

/// Flows the fixture seals into Parquet (18 + 6 + 9, see the module doc).
pub const SEALED_FLOWS: u64 = 33;
/// Flows the fixture leaves in the open window (10.0.0.1's three patterns at 11:25).
pub const OPEN_FLOWS: u64 = 3;

/// One flow of a channel's repeating pattern (see the module doc).
struct Pattern {
    src: &'static str,
    dst: &'static str,
    protocol: u8,
    ports: Option<(u16, u16)>,
    packets: u64,
    bytes: u64,
    next_hop: Option<&'static str>,
    src_as: Option<u32>,
    duration_ms: Option<i64>,
}

/// A channel: its exporter, the slots it has sealed flows in (minutes after 10:00), and its
/// patterns.
struct Channel {
    exporter: &'static str,
    slots: &'static [i64],
    patterns: &'static [Pattern],
}

const A: &[Pattern] = &[
    Pattern {
        src: "192.0.2.10",
        dst: "198.51.100.1",
        protocol: 6,
        ports: Some((40000, 443)),
        packets: 10,
        bytes: 5000,
        next_hop: Some("10.0.0.254"),
        src_as: Some(64500),
        duration_ms: Some(30_000),
    },
    Pattern {
        src: "192.0.2.11",
        dst: "198.51.100.53",
        protocol: 17,
        ports: Some((50000, 53)),
        packets: 1,
        bytes: 80,
        next_hop: None,
        src_as: None,
        duration_ms: Some(0),
    },
    Pattern {
        src: "192.0.2.200",
        dst: "198.51.100.1",
        protocol: 1,
        ports: None,
        packets: 2,
        bytes: 168,
        next_hop: Some("10.0.0.254"),
        src_as: Some(64500),
        duration_ms: None,
    },
];

const B: &[Pattern] = &[
    Pattern {
        src: "203.0.113.5",
        dst: "198.51.100.80",
        protocol: 6,
        ports: Some((41000, 80)),
        packets: 20,
        bytes: 20000,
        next_hop: Some("10.0.0.253"),
        src_as: Some(64502),
        duration_ms: Some(60_000),
    },
    Pattern {
        src: "2001:db8:a::5",
        dst: "2001:db8:b::53",
        protocol: 17,
        ports: Some((51000, 53)),
        packets: 1,
        bytes: 120,
        next_hop: None,
        src_as: None,
        duration_ms: Some(1_000),
    },
];

const C: &[Pattern] = &[
    Pattern {
        src: "2001:db8:a::10",
        dst: "2001:db8:b::1",
        protocol: 6,
        ports: Some((42000, 443)),
        packets: 15,
        bytes: 9000,
        next_hop: Some("2001:db8::fe"),
        src_as: Some(64510),
        duration_ms: Some(45_000),
    },
    Pattern {
        src: "2001:db8:c::1",
        dst: "2001:db8:b::1",
        protocol: 58,
        ports: None,
        packets: 1,
        bytes: 104,
        next_hop: None,
        src_as: None,
        duration_ms: None,
    },
    Pattern {
        src: "192.0.2.10",
        dst: "198.51.100.53",
        protocol: 17,
        ports: Some((52000, 53)),
        packets: 2,
        bytes: 150,
        next_hop: None,
        src_as: Some(64500),
        duration_ms: Some(2_000),
    },
];

const SEALED: [Channel; 3] = [
    Channel {
        exporter: "10.0.0.1",
        slots: &[0, 15, 30, 45, 60, 75],
        patterns: A,
    },
    Channel {
        exporter: "10.0.0.2",
        slots: &[0, 30, 60],
        patterns: B,
    },
    Channel {
        exporter: "2001:db8::1",
        slots: &[15, 45, 75],
        patterns: C,
    },
];

const OPEN: Channel = Channel {
    exporter: "10.0.0.1",
    slots: &[85],
    patterns: A,
};

/// The fixture's data directory, alive (with its open window) until dropped.
pub struct Fixture {
    // Declared before `_dir` so the store is dropped before the directory is removed.
    _open_store: FlowStore,
    data_dir: PathBuf,
    _dir: TempDir,
}

impl Fixture {
    /// Writes the flows of the module doc: seals the Parquet windows, then appends the open
    /// window with a second store that stays open.
    pub fn build() -> Result<Fixture, String> {
        let dir = TempDir::new().map_err(|e| format!("temporary directory: {e}"))?;
        // Canonical, so the path queries print is the one the runner replaces with `DATA`.
        let data_dir = dir
            .path()
            .canonicalize()
            .map_err(|e| format!("temporary directory: {e}"))?;

        let (mut sealed_store, _) = FlowStore::open(config(&data_dir)).map_err(|e| e.to_string())?;
        let mut sealed = 0;
        for channel in &SEALED {
            sealed += append(&mut sealed_store, channel)?;
        }
        let report = sealed_store.close().map_err(|e| e.to_string())?;
        check("sealed flows", sealed, SEALED_FLOWS)?;
        check("rows sealed by the store", report.stats.rows_sealed, SEALED_FLOWS)?;
        check("seal errors", report.stats.seal_errors, 0)?;

        let (mut open_store, _) = FlowStore::open(config(&data_dir)).map_err(|e| e.to_string())?;
        check("open flows", append(&mut open_store, &OPEN)?, OPEN_FLOWS)?;
        check("open windows", open_store.open_windows() as u64, 1)?;
        Ok(Fixture {
            _open_store: open_store,
            data_dir,
            _dir: dir,
        })
    }

    /// The data directory (canonical path).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// A store configuration that files every flow in its own window, however old the fixed
/// timestamps are relative to the clock.
fn config(data_dir: &Path) -> StoreConfig {
    let century = Duration::from_secs(100 * 365 * 86_400);
    StoreConfig {
        max_lateness: century,
        max_lead: century,
        ..StoreConfig::new(data_dir)
    }
}

/// Appends a channel's flows (every pattern in every slot); returns how many.
fn append(store: &mut FlowStore, channel: &Channel) -> Result<u64, String> {
    let exporter = addr(channel.exporter)?;
    let mut builder = FlowBatchBuilder::with_capacity(channel.slots.len() * channel.patterns.len());
    for &slot in channel.slots {
        for (n, pattern) in channel.patterns.iter().enumerate() {
            let flow_start = T0_MS + (slot + n as i64) * MINUTE_MS;
            builder.append(&flow(exporter, flow_start, pattern)?);
        }
    }
    let report = store.append(&builder.finish()).map_err(|e| e.to_string())?;
    check("misfiled flows", report.rows_misfiled as u64, 0)?;
    Ok(report.rows as u64)
}

fn flow(exporter: Addr16, flow_start: i64, p: &Pattern) -> Result<FlowRecord, String> {
    Ok(FlowRecord {
        flow_start,
        flow_end: p.duration_ms.map(|d| flow_start + d),
        exporter,
        observation_domain: 1,
        src_addr: Some(addr(p.src)?),
        dst_addr: Some(addr(p.dst)?),
        next_hop: p.next_hop.map(addr).transpose()?,
        src_port: p.ports.map(|(src, _)| src),
        dst_port: p.ports.map(|(_, dst)| dst),
        protocol: Some(p.protocol),
        packets: Some(p.packets),
        bytes: Some(p.bytes),
        src_as: p.src_as,
        dst_as: Some(64501),
        ..Default::default()
    })
}

fn addr(text: &str) -> Result<Addr16, String> {
    text.parse::<IpAddr>()
        .map(from_ip)
        .map_err(|e| format!("fixture address {text}: {e}"))
}

fn check(what: &str, got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("fixture: {what}: expected {want}, got {got}"))
    }
}

/// The profiles every `.slt` file sees, in memory (counts worked out from the table above):
///
/// | table | filter | flows |
/// |-------|--------|-------|
/// | `web.https` | nfdump `proto tcp and dst port 443` | A0 x7 + C0 x3 = 10 |
/// | `web.dns` | SQL `dst_port = 53` | A1 x7 + B1 x3 + C2 x3 = 13 |
/// | `v6lab.v6` | sources `web.dns`, nfdump `ipv6` | B1 x3 = 3 |
/// | `second.all` | sources `live.exporter_10_0_0_2`, nfdump `any` | B0 x3 + B1 x3 = 6 |
/// | `shift.all` | span: slots 15 and 30 (`flow_start` in [T0 + 15 min, T0 + 45 min)), `any` | |
/// | `shift_web.https` | sources `shift.all`, nfdump `proto tcp and dst port 443` | |
pub fn profiles() -> Result<Arc<ProfileCatalog>, String> {
    let catalog = ProfileCatalog::in_memory().map_err(|e| e.to_string())?;
    let channel = |name: &str, filter: ChannelFilter| ProfileChannel {
        name: name.to_string(),
        filter,
    };
    let profile = |name: &str, parent: &str, sources: &[&str], channels: Vec<ProfileChannel>| Profile {
        name: name.to_string(),
        parent: parent.to_string(),
        description: String::new(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
        channels,
        span: None,
        retention: Retention::default(),
        version: 0,
    };
    let nfdump = |text: &str| ChannelFilter::Nfdump(text.to_string());
    for p in [
        profile(
            "web",
            LIVE_PROFILE,
            &[],
            vec![
                channel("https", nfdump("proto tcp and dst port 443")),
                channel("dns", ChannelFilter::Sql("dst_port = 53".to_string())),
            ],
        ),
        profile("v6lab", "web", &["dns"], vec![channel("v6", nfdump("ipv6"))]),
        profile(
            "second",
            LIVE_PROFILE,
            &["exporter_10_0_0_2"],
            vec![channel("all", nfdump("any"))],
        ),
        Profile {
            span: Some(TimeSpan {
                start_ms: Some(T0_MS + 15 * MINUTE_MS),
                end_ms: Some(T0_MS + 45 * MINUTE_MS),
            }),
            ..profile("shift", LIVE_PROFILE, &[], vec![channel("all", nfdump("any"))])
        },
        profile(
            "shift_web",
            "shift",
            &["all"],
            vec![channel("https", nfdump("proto tcp and dst port 443"))],
        ),
    ] {
        catalog.create(p).map_err(|e| e.to_string())?;
    }
    Ok(Arc::new(catalog))
}
