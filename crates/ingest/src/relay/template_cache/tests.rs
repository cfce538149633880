use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use engine::FlowRecord;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::columns::FlowSink;
use crate::decode::{DecodeReport, Decoder, DecoderConfig};
use crate::relay::test_packets::*;

// ---- allocation counting (this test binary only) ----

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations per thread.
struct Counting;

fn count_one() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
pub(crate) fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

// ---- packets: see relay::test_packets ----

fn small_v4(last: u8, packets: u32, bytes: u32) -> Vec<u8> {
    let mut b = vec![10, 0, 0, last, 10, 0, 1, last];
    b.extend_from_slice(&packets.to_be_bytes());
    b.extend_from_slice(&bytes.to_be_bytes());
    b.push(6);
    b
}

fn records(n: u8) -> Vec<u8> {
    (1..=n).flat_map(|i| small_v4(i, 2, 100)).collect()
}

fn source() -> SocketAddr {
    "192.0.2.1:2055".parse().unwrap()
}

fn exporter() -> IpAddr {
    source().ip()
}

// ---- decoding what the cache sends ----

#[derive(Default)]
struct Sink(Vec<FlowRecord>);

impl FlowSink for Sink {
    fn append_flow(&mut self, r: &FlowRecord) {
        self.0.push(*r);
    }
}

/// Decodes datagrams in order as a slave would; returns the flows and every report.
fn decode(d: &mut Decoder, datagrams: &[&[u8]]) -> (Vec<FlowRecord>, Vec<DecodeReport>) {
    let mut sink = Sink::default();
    let reports = datagrams
        .iter()
        .map(|dg| d.decode(exporter(), dg, 1_700_000_000_000, &mut sink))
        .collect();
    (sink.0, reports)
}

fn payloads(replay: &Replay) -> Vec<Vec<u8>> {
    replay.iter().map(|(_, p)| p.to_vec()).collect()
}

fn config() -> TemplateCacheConfig {
    TemplateCacheConfig::default()
}

/// Forwards `datagram` to `slave`; returns the replay it needed.
fn forward(cache: &mut TemplateCache, slave: usize, datagram: &[u8]) -> Vec<Vec<u8>> {
    let mut replay = Replay::default();
    cache.forward(source(), slave, datagram, &mut replay);
    payloads(&replay)
}

fn clean(reports: &[DecodeReport]) {
    for r in reports {
        assert_eq!(r.error, None, "{r:?}");
        assert_eq!(r.sequence_gap, 0, "{r:?}");
        assert_eq!(r.held_sets, 0, "{r:?}");
    }
}

// ---- tests ----

#[test]
fn v9_templates_options_and_sampling_reach_a_new_slave_before_the_data() {
    let mut cache = TemplateCache::new(config());
    let first = v9(
        7,
        9,
        &[
            set(1, &v9_options_template(300, &[(1, 4)], &[(34, 4), (35, 1)])),
            set(300, &[0, 0, 0, 0, 0, 0, 2, 0, 2]), // system scope, interval 512, algorithm 2
            set(
                0,
                &[template(256, &SMALL_V4), template(257, &[(8, 4), (1, 4)])].concat(),
            ),
            set(256, &records(3)),
        ],
    );
    assert!(
        forward(&mut cache, 0, &first).is_empty(),
        "slave 0 gets the templates itself"
    );
    assert_eq!(
        cache.template_ids(exporter(), 9, 9),
        [(256, false), (257, false), (300, true)]
    );
    assert_eq!(cache.options_records(exporter(), 9, 9, 300), 1);
    assert!(forward(&mut cache, 0, &v9(8, 9, &[set(256, &records(2))])).is_empty());

    // The exporter moved to slave 1: its next datagram is preceded by the replay.
    let moved = v9(9, 9, &[set(256, &records(4))]);
    let replay = forward(&mut cache, 1, &moved);
    assert_eq!(replay.len(), 1);
    let r = &replay[0];
    assert_eq!(&r[..2], &[0, 9]);
    assert_eq!(
        u16::from_be_bytes([r[2], r[3]]),
        4,
        "count: 2 templates, 1 options template, 1 options record"
    );
    assert_eq!(&r[4..8], &UPTIME.to_be_bytes());
    assert_eq!(&r[8..12], &SECS.to_be_bytes());
    assert_eq!(&r[12..16], &8u32.to_be_bytes(), "the last sequence number seen");
    assert_eq!(&r[16..20], &9u32.to_be_bytes());

    let mut slave = Decoder::new(DecoderConfig::default());
    let (flows, reports) = decode(&mut slave, &[r, &moved, &v9(10, 9, &[set(256, &records(1))])]);
    clean(&reports);
    assert_eq!(reports[0].templates, 3);
    assert_eq!(flows.len(), 5);
    for f in &flows {
        assert_eq!(
            (f.packets, f.bytes, f.sampling_interval),
            (Some(1024), Some(51_200), Some(512))
        );
    }
    assert!(forward(&mut cache, 1, &moved).is_empty(), "slave 1 is synced now");
}

#[test]
fn ipfix_replay_numbers_messages_so_the_next_one_shows_no_gap() {
    let mut cache = TemplateCache::new(config());
    // Options template 400: selector id scope, sampling packet interval.
    let options = set(3, &ipfix_options_template(400, 1, &[(302, 2), (305, 4)]));
    let selectors = set(400, &[0, 1, 0, 0, 0, 100, 0, 2, 0, 0, 0, 10]);
    let tpl = set(2, &template(256, &[SMALL_V4.as_slice(), &[(302, 2)]].concat()));
    let data = |n: u8| -> Vec<u8> {
        (1..=n)
            .flat_map(|i| [small_v4(i, 1, 10), vec![0, 1]].concat())
            .collect()
    };
    // Two options records + 3 flows: the next message is numbered 5.
    assert!(
        forward(
            &mut cache,
            0,
            &ipfix(0, 5, &[options, selectors, tpl, set(256, &data(3))])
        )
        .is_empty()
    );
    assert_eq!(cache.options_records(exporter(), 10, 5, 400), 2);
    assert!(forward(&mut cache, 0, &ipfix(5, 5, &[set(256, &data(4))])).is_empty());
    // Next: 9.
    let moved = ipfix(9, 5, &[set(256, &data(2))]);
    let replay = forward(&mut cache, 1, &moved);
    assert_eq!(replay.len(), 1);
    let r = &replay[0];
    assert_eq!(u16::from_be_bytes([r[2], r[3]]) as usize, r.len(), "message length");
    assert_eq!(&r[4..8], &SECS.to_be_bytes());
    assert_eq!(
        &r[8..12],
        &7u32.to_be_bytes(),
        "9 minus the 2 options records it carries"
    );
    assert_eq!(&r[12..16], &5u32.to_be_bytes());

    let mut slave = Decoder::new(DecoderConfig::default());
    let after = ipfix(11, 5, &[set(256, &data(1))]);
    let (flows, reports) = decode(&mut slave, &[r, &moved, &after]);
    clean(&reports);
    assert_eq!(flows.len(), 3);
    assert!(
        flows
            .iter()
            .all(|f| f.packets == Some(100) && f.sampling_interval == Some(100))
    );

    // Reusing the last sequence number seen (5) would report records as missing.
    let mut naive = r.clone();
    naive[8..12].copy_from_slice(&5u32.to_be_bytes());
    let (_, reports) = decode(&mut Decoder::new(DecoderConfig::default()), &[&naive, &moved]);
    assert_eq!(reports[1].sequence_gap, 2);
}

#[test]
fn a_re_sent_template_replaces_the_old_one_and_a_refresh_changes_nothing() {
    let mut cache = TemplateCache::new(config());
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &template(256, &SMALL_V4))]));
    let stats = cache.stats();
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &template(256, &SMALL_V4))]));
    assert_eq!(cache.stats(), stats, "an identical refresh");
    // Same id, another layout: dst, bytes (8 bytes).
    let other = [(12, 4), (1, 4)];
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &template(256, &other))]));
    assert_eq!(cache.stats().templates, 1);
    assert_eq!(cache.stats().bytes, stats.bytes - 4 * 3);
    let mut replay = Replay::default();
    assert_eq!(cache.replay(exporter(), 1, &mut replay), 1);
    let mut slave = Decoder::new(DecoderConfig::default());
    let data = ipfix(0, 1, &[set(256, &[10, 0, 0, 9, 0, 0, 0, 77])]);
    let (flows, reports) = decode(&mut slave, &[replay.get(0).unwrap().1, &data]);
    assert!(reports.iter().all(|r| r.error.is_none()));
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].bytes, Some(77));
    assert_eq!(flows[0].packets, None, "the old layout is gone");
}

#[test]
fn options_data_is_replaced_per_scope_value_and_dropped_with_a_changed_template() {
    let mut cache = TemplateCache::new(config());
    let tpl = set(3, &ipfix_options_template(400, 1, &[(302, 2), (305, 4)]));
    let rec = |selector: u8, interval: u8| vec![0, selector, 0, 0, 0, interval];
    forward(
        &mut cache,
        0,
        &ipfix(0, 1, &[tpl.clone(), set(400, &[rec(1, 10), rec(2, 20)].concat())]),
    );
    forward(&mut cache, 0, &ipfix(2, 1, &[set(400, &rec(1, 30))]));
    forward(&mut cache, 0, &ipfix(3, 1, &[set(400, &rec(3, 40))]));
    assert_eq!(cache.options_records(exporter(), 10, 1, 400), 3);
    let mut replay = Replay::default();
    cache.replay(exporter(), 1, &mut replay);
    let (_, body) = replay.get(0).unwrap();
    let tail: Vec<u8> = [rec(2, 20), rec(1, 30), rec(3, 40)].concat();
    assert!(body.ends_with(&tail), "the latest record of each selector");
    // The same template again keeps the records; another layout drops them.
    forward(&mut cache, 0, &ipfix(4, 1, std::slice::from_ref(&tpl)));
    assert_eq!(cache.options_records(exporter(), 10, 1, 400), 3);
    forward(
        &mut cache,
        0,
        &ipfix(4, 1, &[set(3, &ipfix_options_template(400, 1, &[(302, 2), (34, 4)]))]),
    );
    assert_eq!(cache.options_records(exporter(), 10, 1, 400), 0);
    assert_eq!(cache.stats().options_records, 0);
}

#[test]
fn ipfix_withdrawals_remove_templates_and_empty_exporters() {
    let mut cache = TemplateCache::new(config());
    let options = set(3, &ipfix_options_template(400, 1, &[(302, 2), (305, 4)]));
    let templates = set(2, &[template(256, &SMALL_V4), template(257, &SMALL_V4)].concat());
    forward(&mut cache, 0, &ipfix(0, 1, &[templates.clone(), options.clone()]));
    assert_eq!(cache.template_ids(exporter(), 10, 1).len(), 3);
    // Withdraw 256 (field count 0).
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &[1, 0, 0, 0])]));
    assert_eq!(cache.template_ids(exporter(), 10, 1), [(257, false), (400, true)]);
    // Withdraw every data template (id 2): the options template stays.
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &[0, 2, 0, 0])]));
    assert_eq!(cache.template_ids(exporter(), 10, 1), [(400, true)]);
    // Withdraw every options template (id 3): nothing is left, the exporter goes.
    forward(&mut cache, 0, &ipfix(0, 1, &[set(3, &[0, 3, 0, 0])]));
    assert_eq!(cache.stats(), CacheStats::default());
    // A withdrawal of an options template by its id, in a template set, as the decoder does.
    forward(&mut cache, 0, &ipfix(0, 1, &[options, set(2, &[1, 144, 0, 0])]));
    assert_eq!(cache.stats().templates, 0);
    assert_eq!(cache.stats().exporters, 0);
    let mut replay = Replay::default();
    assert_eq!(cache.replay(exporter(), 1, &mut replay), 0);
}

#[test]
fn domains_and_versions_are_kept_apart() {
    let mut cache = TemplateCache::new(config());
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &template(256, &SMALL_V4))]));
    forward(&mut cache, 0, &ipfix(0, 2, &[set(2, &template(256, &[(8, 4)]))]));
    forward(&mut cache, 0, &v9(0, 1, &[set(0, &template(256, &[(12, 4)]))]));
    assert_eq!(cache.stats().templates, 3);
    let mut replay = Replay::default();
    assert_eq!(cache.replay(exporter(), 1, &mut replay), 3, "one datagram per domain");
    let domains: Vec<(u8, u32)> = replay
        .iter()
        .map(|(_, p)| {
            let at = if p[1] == 9 { 16 } else { 12 };
            (p[1], u32::from_be_bytes(p[at..at + 4].try_into().unwrap()))
        })
        .collect();
    assert_eq!(domains, [(10, 1), (10, 2), (9, 1)]);
    for (dg, _) in replay.iter() {
        assert_eq!((dg.exporter, dg.source, dg.slave), (exporter(), source(), 1));
    }
    // An IPv4-mapped source is the same exporter.
    let mapped: SocketAddr = "[::ffff:192.0.2.1]:2055".parse().unwrap();
    let mut replay = Replay::default();
    assert_eq!(cache.forward(mapped, 2, &v9(1, 1, &[]), &mut replay), 3);
}

#[test]
fn records_the_decoder_rejects_are_not_kept() {
    let mut cache = TemplateCache::new(config());
    let bad = [
        ipfix(0, 1, &[set(2, &template(255, &SMALL_V4))]), // id below 256
        ipfix(0, 1, &[set(2, &template(256, &[(8, 0)]))]), // zero-length records
        ipfix(0, 1, &[set(3, &ipfix_options_template(400, 0, &[(34, 4)]))]), // no scope
        ipfix(0, 1, &[set(3, &ipfix_options_template(400, 2, &[(34, 4)]))]), // scope > count
        ipfix(0, 1, &[set(2, &template(256, &SMALL_V4)[..10])]), // cut
        v9(0, 1, &[set(1, &[1, 44, 0, 2, 0, 4, 0, 1, 0, 4, 0, 0])]), // scope length 2
        v9(0, 1, &[set(0, &template(256, &[(1, 40000), (2, 40000)]))]), // longer than a set
        v9(0, 1, &[set(0, &[1, 0, 0, 0])]),                // no fields
        v9(0, 1, &[set(2, &template(256, &SMALL_V4))]),    // reserved set
    ];
    for dg in &bad {
        forward(&mut cache, 0, dg);
        assert_eq!(cache.stats(), CacheStats::default(), "{dg:?}");
    }
    // The decoder keeps its template when a bad one with the same id comes: so does the cache.
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &template(256, &SMALL_V4))]));
    forward(&mut cache, 0, &ipfix(0, 1, &[set(2, &template(256, &[(8, 0)]))]));
    assert_eq!(cache.template_ids(exporter(), 10, 1), [(256, false)]);
}

#[test]
fn bounds_drop_and_count_what_does_not_fit() {
    // Templates per exporter.
    let cfg = TemplateCacheConfig {
        max_templates_per_exporter: 2,
        ..config()
    };
    let mut cache = TemplateCache::new(cfg);
    let three: Vec<u8> = (256..259).flat_map(|id| template(id, &SMALL_V4)).collect();
    forward(&mut cache, 0, &v9(0, 1, &[set(0, &three)]));
    assert_eq!(cache.template_ids(exporter(), 9, 1), [(256, false), (257, false)]);
    assert_eq!(cache.stats().dropped, [1, 0, 0]);
    // Another domain of the same exporter counts too; another exporter does not.
    forward(&mut cache, 0, &v9(0, 2, &[set(0, &template(256, &SMALL_V4))]));
    assert_eq!(cache.stats().dropped, [2, 0, 0]);
    let other: SocketAddr = "192.0.2.2:2055".parse().unwrap();
    cache.forward(other, 0, &v9(0, 2, &[set(0, &three)]), &mut Replay::default());
    assert_eq!(cache.stats().templates, 4);

    // Bytes: one SMALL_V4 template (24 bytes) fits, a second does not.
    let one = cost(template(256, &SMALL_V4).len());
    let cfg = TemplateCacheConfig {
        max_bytes: one + 10,
        ..config()
    };
    let mut cache = TemplateCache::new(cfg);
    forward(&mut cache, 0, &v9(0, 1, &[set(0, &three)]));
    assert_eq!(cache.stats().templates, 1);
    assert_eq!(cache.stats().bytes, one);
    assert_eq!(cache.stats().dropped, [0, 2, 0]);
    // A larger version of the cached one does not fit either: the stale one goes too.
    let larger = template(256, &[SMALL_V4.as_slice(), &[(7, 2), (11, 2), (10, 4)]].concat());
    forward(&mut cache, 0, &v9(1, 1, &[set(0, &larger)]));
    assert_eq!(
        cache.stats(),
        CacheStats {
            dropped: [0, 3, 0],
            ..CacheStats::default()
        }
    );

    // Options records per template.
    let mut cache = TemplateCache::new(config());
    let tpl = set(3, &ipfix_options_template(400, 1, &[(302, 2), (305, 4)]));
    let recs: Vec<u8> = (0..=MAX_OPTIONS_RECORDS as u16)
        .flat_map(|s| [s.to_be_bytes().to_vec(), vec![0, 0, 0, 9]].concat())
        .collect();
    forward(&mut cache, 0, &ipfix(0, 1, &[tpl, set(400, &recs)]));
    assert_eq!(cache.options_records(exporter(), 10, 1, 400), MAX_OPTIONS_RECORDS);
    assert_eq!(cache.stats().dropped, [0, 0, 1]);

    // Disabled: nothing kept, nothing replayed.
    let mut cache = TemplateCache::new(TemplateCacheConfig {
        max_bytes: 0,
        ..config()
    });
    forward(&mut cache, 0, &v9(0, 1, &[set(0, &three)]));
    assert_eq!(cache.stats().exporters, 0);
    assert_eq!(cache.stats().dropped, [0, 3, 0]);
    assert!(forward(&mut cache, 1, &v9(1, 1, &[set(256, &records(1))])).is_empty());
}

#[test]
fn a_large_replay_is_split_and_every_part_decodes_in_sequence() {
    for version in [9u16, 10] {
        let cfg = TemplateCacheConfig {
            replay_datagram_size: 200,
            ..config()
        };
        let mut cache = TemplateCache::new(cfg);
        let (tpl_set, opt_set) = if version == 9 { (0, 1) } else { (2, 3) };
        let message = |seq: u32, sets: &[Vec<u8>]| {
            if version == 9 {
                v9(seq, 3, sets)
            } else {
                ipfix(seq, 3, sets)
            }
        };
        let opt_tpl = if version == 9 {
            v9_options_template(300, &[(1, 4)], &[(34, 4)])
        } else {
            ipfix_options_template(300, 1, &[(302, 4), (34, 4)])
        };
        let opts: Vec<u8> = (0..30u32)
            .flat_map(|s| [s.to_be_bytes(), 100u32.to_be_bytes()].concat())
            .collect();
        for chunk in (256..296u16).collect::<Vec<_>>().chunks(5) {
            let tpls: Vec<u8> = chunk.iter().flat_map(|id| template(*id, &SMALL_V4)).collect();
            forward(&mut cache, 0, &message(0, &[set(tpl_set, &tpls)]));
        }
        forward(&mut cache, 0, &message(0, &[set(opt_set, &opt_tpl), set(300, &opts)]));
        // Next: v9 1, IPFIX 30 (the options records).
        let next = if version == 9 { 1 } else { 30 };
        let moved = message(next, &[set(256, &records(2))]);
        let replay = forward(&mut cache, 1, &moved);
        assert!(replay.len() > 5, "{version}: {} datagrams", replay.len());
        assert!(replay.iter().all(|p| p.len() <= 200), "{version}");
        let mut slave = Decoder::new(DecoderConfig::default());
        let mut all: Vec<&[u8]> = replay.iter().map(Vec::as_slice).collect();
        let after = message(next + if version == 9 { 1 } else { 2 }, &[set(257, &records(1))]);
        all.extend([moved.as_slice(), after.as_slice()]);
        let (flows, reports) = decode(&mut slave, &all);
        clean(&reports);
        assert_eq!(reports.iter().map(|r| r.templates).sum::<u32>(), 41, "{version}");
        assert_eq!(flows.len(), 3);
        let snapshot = slave.template_snapshot();
        assert_eq!(snapshot.domains[0].templates.len(), 41);
        let options = &snapshot.domains[0].options;
        let intervals = options.samplers.len() + usize::from(options.default_interval.is_some());
        assert!(intervals > 0, "{version}: the options data arrived");
    }
}

#[test]
fn variable_length_templates_are_split_like_the_decoder_does() {
    let mut cache = TemplateCache::new(config());
    // Options template: scope selector id (2), then a variable-length name, then interval.
    let tpl = set(3, &ipfix_options_template(400, 1, &[(302, 2), (335, 65535), (305, 4)]));
    let rec = |s: u8, name: &[u8], n: u8| [vec![0, s, name.len() as u8], name.to_vec(), vec![0, 0, 0, n]].concat();
    let long: Vec<u8> = [vec![0, 2, 255, 1, 44], vec![b'x'; 300], vec![0, 0, 0, 20]].concat();
    let body = [rec(1, b"one", 10), long.clone(), rec(1, b"uno", 11)].concat();
    // Data template with a variable-length field: records are counted for the sequence number.
    let data_tpl = set(2, &template(256, &[(8, 4), (96, 65535)]));
    let data = [vec![10, 0, 0, 1, 2, b'a', b'b'], vec![10, 0, 0, 2, 0]].concat();
    forward(
        &mut cache,
        0,
        &ipfix(0, 1, &[tpl, set(400, &body), data_tpl, set(256, &data)]),
    );
    assert_eq!(cache.options_records(exporter(), 10, 1, 400), 2);
    let moved = ipfix(5, 1, &[set(256, &data)]);
    let replay = forward(&mut cache, 1, &moved);
    let mut slave = Decoder::new(DecoderConfig::default());
    let mut all: Vec<&[u8]> = replay.iter().map(Vec::as_slice).collect();
    all.push(&moved);
    let (flows, reports) = decode(&mut slave, &all);
    clean(&reports);
    assert_eq!(flows.len(), 2);
    assert_eq!(
        slave.template_snapshot().domains[0].options.samplers,
        [(2, 20), (1, 11)]
    );
}

#[test]
fn data_only_datagrams_and_refreshes_do_not_allocate() {
    let mut cache = TemplateCache::new(config());
    let mut replay = Replay::default();
    let v9_first = v9(
        0,
        1,
        &[
            set(1, &v9_options_template(300, &[(1, 4)], &[(34, 4)])),
            set(300, &[0, 0, 0, 0, 0, 0, 0, 100]),
            set(0, &template(256, &SMALL_V4)),
        ],
    );
    let ipfix_first = ipfix(
        0,
        1,
        &[
            set(3, &ipfix_options_template(400, 1, &[(302, 2), (305, 4)])),
            set(400, &[0, 1, 0, 0, 0, 100]),
            set(2, &template(256, &[(8, 4), (96, 65535)])),
        ],
    );
    let known: SocketAddr = "192.0.2.7:4739".parse().unwrap();
    cache.forward(source(), 0, &v9_first, &mut replay);
    cache.forward(known, 0, &ipfix_first, &mut replay);
    let unknown: SocketAddr = "192.0.2.99:2055".parse().unwrap();
    let v5 = [0u8, 5, 0, 0, 0, 0, 0, 0];
    let cases: [(&str, SocketAddr, Vec<u8>); 6] = [
        ("v9 data", source(), v9(1, 1, &[set(256, &records(10))])),
        ("ipfix data", known, ipfix(1, 1, &[set(256, &[10, 0, 0, 1, 1, b'a'])])),
        ("v9 refresh", source(), v9_first.clone()),
        ("ipfix refresh", known, ipfix_first.clone()),
        ("unknown exporter", unknown, v9(1, 1, &[set(256, &records(10))])),
        ("v5", source(), v5.to_vec()),
    ];
    for (what, from, dg) in &cases {
        let n = allocations(|| {
            assert_eq!(cache.forward(*from, 0, dg, &mut replay), 0);
        });
        assert_eq!(n, 0, "{what}");
    }
    assert_eq!(cache.stats().exporters, 2);
    // The counting works: a new template allocates.
    let new = v9(2, 1, &[set(0, &template(260, &SMALL_V4))]);
    assert!(
        allocations(|| {
            cache.forward(source(), 0, &new, &mut replay);
        }) > 0
    );
}

#[test]
fn malformed_input_never_panics_and_replays_always_decode() {
    let mut rng = SmallRng::seed_from_u64(0x7e3a);
    let seeds = [
        v9(
            3,
            1,
            &[
                set(1, &v9_options_template(300, &[(1, 4)], &[(34, 4)])),
                set(300, &[0, 0, 0, 0, 0, 0, 0, 100]),
                set(0, &[template(256, &SMALL_V4), template(257, &[(8, 4)])].concat()),
                set(256, &records(2)),
            ],
        ),
        ipfix(
            9,
            1,
            &[
                set(3, &ipfix_options_template(400, 1, &[(302, 2), (335, 65535), (305, 4)])),
                set(400, &[0, 1, 1, b'a', 0, 0, 0, 7]),
                // 258: an enterprise field (PEN 29305), then sourceIPv4Address.
                set(
                    2,
                    &[
                        template(256, &SMALL_V4),
                        vec![1, 2, 0, 2, 0x80, 7, 0, 4, 0, 0, 0x72, 0x79, 0, 8, 0, 4],
                    ]
                    .concat(),
                ),
                set(2, &[1, 1, 0, 0]),
                set(256, &records(2)),
            ],
        ),
    ];
    let mut cache = TemplateCache::new(TemplateCacheConfig {
        max_templates_per_exporter: 64,
        max_bytes: 64 << 10,
        replay_datagram_size: 300,
    });
    let mut replay = Replay::default();
    let mut replayed = 0;
    for round in 0..3000 {
        let mut dg = seeds[round % 2].clone();
        for _ in 0..rng.random_range(0..6) {
            let at = rng.random_range(0..dg.len());
            dg[at] = rng.random();
        }
        if rng.random_bool(0.2) {
            dg.truncate(rng.random_range(0..dg.len()));
        }
        if rng.random_bool(0.05) {
            dg = (0..rng.random_range(0..80)).map(|_| rng.random()).collect();
        }
        let ip = IpAddr::from([192, 0, 2, rng.random_range(1..4)]);
        replay.clear();
        cache.forward(SocketAddr::new(ip, 2055), rng.random_range(0..3), &dg, &mut replay);
        if round % 50 == 0 {
            replay.clear();
            cache.replay(ip, 9, &mut replay);
        }
        // Whatever went in, what comes out is something a slave decodes without an error.
        let mut slave = Decoder::new(DecoderConfig::default());
        let mut sink = Sink::default();
        for (_, payload) in replay.iter() {
            replayed += 1;
            assert!(payload.len() <= MAX_RELAY_PAYLOAD);
            let report = slave.decode(ip, payload, 0, &mut sink);
            assert_eq!(report.error, None, "round {round}: {payload:?} from {dg:?}");
            assert_eq!(report.held_sets, 0);
        }
        assert!(sink.0.is_empty(), "a replay never carries flows");
        let stats = cache.stats();
        assert!(stats.bytes <= 64 << 10);
    }
    assert!(replayed > 500, "only {replayed} synthetic datagrams checked");
}
