use engine::FlowRecord;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::columns::FlowSink;
use crate::decode::{DecodeReport, Decoder, DecoderConfig};
use crate::relay::template_cache::tests::allocations;
use crate::relay::test_packets::*;

// ---- packets: see relay::test_packets ----

/// `n` distinct SMALL_V4 records, numbered from `first`.
fn records(first: u8, n: u8) -> Vec<u8> {
    (first..first + n)
        .flat_map(|i| {
            let mut b = vec![10, 0, 0, i, 10, 0, 1, i];
            b.extend_from_slice(&u32::from(i).to_be_bytes());
            b.extend_from_slice(&(100 * u32::from(i)).to_be_bytes());
            b.push(6);
            b
        })
        .collect()
}

/// `n` distinct records of template 257 (src, bytes).
fn short_records(first: u8, n: u8) -> Vec<u8> {
    (first..first + n)
        .flat_map(|i| [vec![10, 9, 0, i], (1000 + u32::from(i)).to_be_bytes().to_vec()].concat())
        .collect()
}

/// A v5 datagram of `n` records; engine 1/2, sampling mode 1 interval 100.
fn v5(seq: u32, n: u8) -> Vec<u8> {
    let mut b = vec![0, 5];
    b.extend_from_slice(&u16::from(n).to_be_bytes());
    for v in [UPTIME, SECS, 0, seq] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&[1, 2]);
    b.extend_from_slice(&(0x4000u16 | 100).to_be_bytes());
    for i in 0..n {
        let mut r = [0u8; 48];
        r[..4].copy_from_slice(&[10, 0, 0, i]);
        r[4..8].copy_from_slice(&[10, 1, 0, 1]);
        r[16..20].copy_from_slice(&u32::from(i + 1).to_be_bytes());
        r[20..24].copy_from_slice(&(40 * u32::from(i + 1)).to_be_bytes());
        r[24..28].copy_from_slice(&(UPTIME - 2000).to_be_bytes());
        r[28..32].copy_from_slice(&(UPTIME - 1000).to_be_bytes());
        r[38] = 6;
        b.extend_from_slice(&r);
    }
    b
}

fn source() -> SocketAddr {
    "192.0.2.1:2055".parse().unwrap()
}

// ---- slaves decoding what the splitter sends ----

#[derive(Default)]
struct Sink(Vec<FlowRecord>);

impl FlowSink for Sink {
    fn append_flow(&mut self, r: &FlowRecord) {
        self.0.push(*r);
    }
}

const RECEIVED_MS: i64 = 1_700_000_000_000;

/// `n` slaves, each a decoder, with everything they decoded.
struct Slaves {
    decoders: Vec<Decoder>,
    flows: Vec<Vec<FlowRecord>>,
    reports: Vec<Vec<DecodeReport>>,
}

impl Slaves {
    fn new(n: usize) -> Self {
        Self {
            decoders: (0..n).map(|_| Decoder::new(DecoderConfig::default())).collect(),
            flows: vec![Vec::new(); n],
            reports: vec![Vec::new(); n],
        }
    }

    /// Decodes every output on its slave, as the slave's relay listener would.
    fn take(&mut self, out: &Outputs) {
        for (o, payload) in out.iter() {
            assert_eq!(o.source, source(), "the frame names the exporter");
            let mut sink = Sink::default();
            let report = self.decoders[o.slave].decode(o.source.ip(), payload, RECEIVED_MS, &mut sink);
            // More when the slave knows a template the splitter does not.
            assert!(report.flows >= o.flows + report.released_flows, "{report:?}");
            self.flows[o.slave].extend(sink.0);
            self.reports[o.slave].push(report);
        }
    }

    fn all_flows(&self) -> Vec<FlowRecord> {
        self.flows.concat()
    }

    fn counts(&self) -> Vec<usize> {
        self.flows.iter().map(Vec::len).collect()
    }

    /// No errors, no sequence gaps, nothing left held.
    fn assert_clean(&self) {
        for (s, reports) in self.reports.iter().enumerate() {
            for r in reports {
                assert_eq!(r.error, None, "slave {s}: {r:?}");
                assert_eq!(r.sequence_gap, 0, "slave {s}: {r:?}");
            }
            assert_eq!(self.decoders[s].held_sets(), 0, "slave {s} still holds data");
        }
    }

    fn gaps(&self) -> u64 {
        self.reports.iter().flatten().map(|r| r.sequence_gap).sum()
    }
}

/// Splits `datagram`, checks every output is no longer than it, and lets the slaves decode.
fn run(sp: &mut Splitter, slaves: &mut Slaves, datagram: &[u8]) -> (SplitReport, Outputs) {
    let mut out = Outputs::new();
    let report = sp.split(source(), datagram, &mut out).unwrap();
    for (_, payload) in out.iter() {
        assert!(payload.len() <= datagram.len());
    }
    slaves.take(&out);
    (report, out)
}

/// What one decoder makes of the datagrams sent straight to it.
fn direct(datagrams: &[&[u8]]) -> Vec<FlowRecord> {
    let mut d = Decoder::new(DecoderConfig::default());
    let mut sink = Sink::default();
    for dg in datagrams {
        let r = d.decode(source().ip(), dg, RECEIVED_MS, &mut sink);
        assert_eq!(r.error, None);
    }
    sink.0
}

/// Flows in a comparable order.
fn sorted(flows: &[FlowRecord]) -> Vec<String> {
    let mut v: Vec<String> = flows.iter().map(|f| format!("{f:?}")).collect();
    v.sort();
    v
}

fn spread(counts: &[usize]) -> usize {
    counts.iter().max().unwrap() - counts.iter().min().unwrap()
}

fn be32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

// ---- tests ----

#[test]
fn v9_with_options_data_splits_over_three_slaves_into_the_same_flows() {
    let first = v9(
        1,
        9,
        &[
            set(1, &v9_options_template(300, &[(1, 4)], &[(34, 4), (35, 1)])),
            set(300, &[0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0]), // interval 512, padded to 4
            set(
                0,
                &[template(256, &SMALL_V4), template(257, &[(8, 4), (1, 4)])].concat(),
            ),
            set(256, &records(1, 10)),
            set(257, &short_records(1, 5)),
        ],
    );
    let more = [
        v9(2, 9, &[set(256, &records(20, 7)), set(257, &short_records(20, 1))]),
        v9(3, 9, &[set(257, &short_records(30, 4)), set(256, &records(40, 2))]),
    ];
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);

    let (report, out) = run(&mut sp, &mut slaves, &first);
    assert_eq!(
        (
            report.flows,
            report.templates,
            report.options_templates,
            report.options_records
        ),
        (15, 2, 1, 1)
    );
    assert_eq!(out.len(), 3, "every slave gets the templates");
    let mut seqs = Vec::new();
    for (o, p) in out.iter() {
        assert_eq!(be16_at(p, 0), 9);
        // 2 templates + 1 options template + 1 options record + 5 flows.
        assert_eq!(be16_at(p, 2), 9, "slave {}", o.slave);
        assert_eq!((be32_at(p, 4), be32_at(p, 8), be32_at(p, 16)), (UPTIME, SECS, 9));
        assert_eq!(o.flows, 5);
        seqs.push(be32_at(p, 12));
    }
    for dg in &more {
        let (_, out) = run(&mut sp, &mut slaves, dg);
        for (o, p) in out.iter() {
            seqs[o.slave] = seqs[o.slave].wrapping_add(1);
            assert_eq!(be32_at(p, 12), seqs[o.slave], "v9: each slave counts its own messages");
        }
    }
    slaves.assert_clean();
    let all: Vec<&[u8]> = std::iter::once(first.as_slice())
        .chain(more.iter().map(Vec::as_slice))
        .collect();
    let want = direct(&all);
    assert_eq!(want.len(), 29);
    assert_eq!(sorted(&slaves.all_flows()), sorted(&want));
    assert!(spread(&slaves.counts()) <= 1, "{:?}", slaves.counts());
    for f in slaves.all_flows() {
        assert_eq!(f.sampling_interval, Some(512), "scaled on every slave");
        assert_eq!(f.observation_domain, 9);
    }
    for d in &slaves.decoders {
        let snap = d.template_snapshot();
        assert_eq!(snap.domains.len(), 1);
        assert_eq!(snap.domains[0].templates.len(), 3);
        assert_eq!(snap.domains[0].options.default_interval, Some(512));
    }
}

#[test]
fn ipfix_split_numbers_each_slave_by_its_own_records() {
    let opts = set(3, &ipfix_options_template(400, 1, &[(149, 4), (305, 4), (306, 4)]));
    let sampling = set(400, &[[0, 0, 0, 4], 1u32.to_be_bytes(), 9u32.to_be_bytes()].concat());
    let tpl = set(2, &template(256, &SMALL_V4));
    let datagrams = [
        ipfix(0, 4, &[opts, sampling, tpl, set(256, &records(1, 10))]),
        ipfix(11, 4, &[set(256, &records(20, 7))]),
        ipfix(18, 4, &[set(256, &records(30, 5))]),
    ];
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);
    let mut next: Vec<Option<u32>> = vec![None; 3];
    for dg in &datagrams {
        let (report, out) = run(&mut sp, &mut slaves, dg);
        assert_eq!(report.sequence_gap, 0);
        for (o, p) in out.iter() {
            assert_eq!(be16_at(p, 0), 10);
            assert_eq!(usize::from(be16_at(p, 2)), p.len(), "message length");
            assert_eq!((be32_at(p, 4), be32_at(p, 12)), (SECS, 4));
            let seq = be32_at(p, 8);
            if let Some(n) = next[o.slave] {
                assert_eq!(seq, n, "slave {}", o.slave);
            }
            // Options data records count like flow records.
            let options = u32::from(dg == &datagrams[0]);
            next[o.slave] = Some(seq.wrapping_add(o.flows + options));
        }
    }
    slaves.assert_clean();
    let want = direct(&datagrams.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(sorted(&slaves.all_flows()), sorted(&want));
    assert_eq!(slaves.counts(), [8, 7, 7]);
    for f in slaves.all_flows() {
        assert_eq!(f.sampling_interval, Some(10));
    }
}

#[test]
fn an_exporter_gap_reaches_the_slaves_once() {
    // IPFIX: 7 records lost between exporter and proxy.
    let tpl = set(2, &template(256, &SMALL_V4));
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);
    run(&mut sp, &mut slaves, &ipfix(0, 1, &[tpl, set(256, &records(1, 10))]));
    run(&mut sp, &mut slaves, &ipfix(10, 1, &[set(256, &records(11, 4))]));
    let (report, _) = run(&mut sp, &mut slaves, &ipfix(21, 1, &[set(256, &records(30, 5))]));
    assert_eq!(report.sequence_gap, 7);
    assert_eq!(slaves.gaps(), 7);

    // v9: two export packets lost.
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);
    let tpl = set(0, &template(256, &SMALL_V4));
    run(&mut sp, &mut slaves, &v9(1, 0, &[tpl, set(256, &records(1, 6))]));
    run(&mut sp, &mut slaves, &v9(2, 0, &[set(256, &records(10, 6))]));
    let (report, _) = run(&mut sp, &mut slaves, &v9(5, 0, &[set(256, &records(20, 6))]));
    // Every slave misses the messages of the lost packets.
    assert_eq!((report.sequence_gap, slaves.gaps()), (2, 6));

    // v5: five flows lost.
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);
    run(&mut sp, &mut slaves, &v5(0, 10));
    run(&mut sp, &mut slaves, &v5(10, 10));
    let (report, _) = run(&mut sp, &mut slaves, &v5(25, 10));
    assert_eq!((report.sequence_gap, slaves.gaps()), (5, 5));
}

#[test]
fn v5_records_are_split_with_their_own_counts_and_sequences() {
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);
    let datagrams = [v5(100, 30), v5(130, 30), v5(160, 4)];
    let mut next: Vec<Option<u32>> = vec![None; 3];
    for dg in &datagrams {
        let (report, out) = run(&mut sp, &mut slaves, dg);
        assert_eq!(report.flows, u32::from(be16_at(dg, 2)));
        for (o, p) in out.iter() {
            assert_eq!(usize::from(be16_at(p, 2)), (p.len() - 24) / 48);
            assert_eq!(u32::from(be16_at(p, 2)), o.flows);
            assert_eq!(p[4..16], dg[4..16], "times copied");
            assert_eq!(p[20..24], dg[20..24], "engine and sampling copied");
            let seq = be32_at(p, 16);
            if let Some(n) = next[o.slave] {
                assert_eq!(seq, n);
            }
            next[o.slave] = Some(seq.wrapping_add(o.flows));
        }
    }
    slaves.assert_clean();
    assert_eq!(slaves.counts(), [22, 21, 21]);
    let want = direct(&datagrams.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(sorted(&slaves.all_flows()), sorted(&want));
    for f in slaves.all_flows() {
        assert_eq!((f.sampling_interval, f.observation_domain), (Some(100), 0x102));
    }
}

#[test]
fn ipfix_variable_length_records_are_cut_like_the_decoder_cuts_them() {
    // src, a variable-length string, packets.
    let tpl = set(2, &template(256, &[(8, 4), (96, 65535), (2, 4)]));
    let rec = |i: u8, name: &[u8]| -> Vec<u8> {
        let len = if name.len() < 255 {
            vec![name.len() as u8]
        } else {
            [vec![255], (name.len() as u16).to_be_bytes().to_vec()].concat()
        };
        [
            vec![10, 0, 0, i],
            len,
            name.to_vec(),
            u32::from(i).to_be_bytes().to_vec(),
        ]
        .concat()
    };
    let body = [
        rec(1, b"ab"),
        rec(2, &[b'x'; 300]),
        rec(3, b""),
        rec(4, &[b'y'; 254]),
        rec(5, b"z"),
    ]
    .concat();
    let clean = ipfix(0, 1, &[tpl.clone(), set(256, &body)]);
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);
    let (report, out) = run(&mut sp, &mut slaves, &clean);
    assert_eq!((report.flows, report.error.clone()), (5, None));
    assert_eq!(out.iter().map(|(o, _)| o.flows).collect::<Vec<_>>(), [2, 2, 1]);
    slaves.assert_clean();
    assert_eq!(sorted(&slaves.all_flows()), sorted(&direct(&[&clean])));

    // A record cut inside its variable-length field: the ones before it still go out.
    let mut cut = rec(6, &[b'w'; 40]);
    cut.truncate(20);
    let broken = ipfix(5, 1, &[set(256, &[rec(7, b"ok"), rec(8, b"ok2"), cut].concat())]);
    let mut out = Outputs::new();
    let report = sp.split(source(), &broken, &mut out).unwrap();
    assert_eq!(report.flows, 2);
    assert!(
        matches!(
            report.error,
            Some(DecodeError::Truncated {
                what: "variable-length record",
                ..
            })
        ),
        "{report:?}"
    );
    assert_eq!(out.iter().map(|(o, _)| o.flows).sum::<u32>(), 2);
}

#[test]
fn data_before_its_template_decodes_on_every_slave_once_the_template_comes() {
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut slaves = Slaves::new(3);
    let early = [
        v9(1, 0, &[set(256, &records(1, 4))]),
        v9(2, 0, &[set(256, &records(10, 5)), set(257, &short_records(1, 2))]),
    ];
    let mut got = Vec::new();
    for dg in &early {
        let (report, out) = run(&mut sp, &mut slaves, dg);
        assert_eq!(report.flows, 0);
        got.push((
            report.unknown_sets,
            out.iter().map(|(o, _)| o.slave).collect::<Vec<_>>(),
        ));
    }
    assert_eq!(
        got,
        [(1, vec![0]), (2, vec![1])],
        "a datagram's unknown sets go whole to one slave, in turn"
    );
    assert_eq!(slaves.all_flows().len(), 0, "held by the slaves");
    let templates = v9(
        3,
        0,
        &[set(
            0,
            &[template(256, &SMALL_V4), template(257, &[(8, 4), (1, 4)])].concat(),
        )],
    );
    let (_, out) = run(&mut sp, &mut slaves, &templates);
    assert_eq!(out.len(), 3, "templates go to every slave");
    assert_eq!(slaves.counts(), [4, 7, 0], "each slave released what it held");
    let later = v9(4, 0, &[set(256, &records(30, 6))]);
    run(&mut sp, &mut slaves, &later);
    slaves.assert_clean();
    let want = direct(&[&early[0], &early[1], &templates, &later]);
    assert_eq!(sorted(&slaves.all_flows()), sorted(&want));
}

#[test]
fn a_restarted_proxy_causes_no_false_gap_on_slaves_that_kept_their_templates() {
    let tpl = set(2, &template(256, &SMALL_V4));
    let mut slaves = Slaves::new(3);
    let before = ipfix(0, 1, &[tpl.clone(), set(256, &records(1, 6))]);
    run(&mut Splitter::new(3, SplitterConfig::default()), &mut slaves, &before);
    // The proxy restarts: its splitter knows nothing, the slaves know template 256.
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let after = [
        ipfix(6, 1, &[set(256, &records(10, 6))]),
        ipfix(12, 1, &[set(256, &records(20, 6))]),
        ipfix(18, 1, &[tpl, set(256, &records(30, 6))]),
        ipfix(24, 1, &[set(256, &records(40, 6))]),
        ipfix(30, 1, &[set(256, &records(50, 6))]),
    ];
    for dg in &after {
        run(&mut sp, &mut slaves, dg);
    }
    slaves.assert_clean();
    let mut all: Vec<&[u8]> = vec![&before];
    all.extend(after.iter().map(Vec::as_slice));
    assert_eq!(sorted(&slaves.all_flows()), sorted(&direct(&all)));

    // v9 and v5 alike.
    let tpl = set(0, &template(256, &SMALL_V4));
    let mut slaves = Slaves::new(3);
    let v9_before = v9(1, 0, &[tpl.clone(), set(256, &records(1, 6))]);
    let v5_before = v5(0, 6);
    let mut sp = Splitter::new(3, SplitterConfig::default());
    run(&mut sp, &mut slaves, &v9_before);
    run(&mut sp, &mut slaves, &v5_before);
    let mut sp = Splitter::new(3, SplitterConfig::default());
    for dg in [
        v9(2, 0, &[set(256, &records(10, 6))]),
        v5(6, 6),
        v9(3, 0, &[set(256, &records(20, 6))]),
        v9(4, 0, &[tpl, set(256, &records(30, 6))]),
        v5(12, 6),
        v9(5, 0, &[set(256, &records(40, 6))]),
    ] {
        run(&mut sp, &mut slaves, &dg);
    }
    slaves.assert_clean();
}

#[test]
fn malformed_datagrams_are_rejected_whole_with_a_reason() {
    let tpl = set(0, &template(256, &SMALL_V4));
    let good_v9 = v9(1, 0, &[tpl.clone(), set(256, &records(1, 3))]);
    let good_ipfix = ipfix(1, 0, &[set(2, &template(256, &SMALL_V4)), set(256, &records(1, 3))]);
    let mut ipfix_short_length = good_ipfix.clone();
    ipfix_short_length[2..4].copy_from_slice(&12u16.to_be_bytes());
    let mut ipfix_long_length = good_ipfix.clone();
    ipfix_long_length[2..4].copy_from_slice(&((good_ipfix.len() + 1) as u16).to_be_bytes());
    let mut v9_bad_set = good_v9.clone();
    v9_bad_set[22..24].copy_from_slice(&3u16.to_be_bytes());
    let mut v9_set_past_end = good_v9.clone();
    v9_set_past_end.truncate(good_v9.len() - 5);
    let mut v5_long_count = v5(0, 3);
    v5_long_count[2..4].copy_from_slice(&4u16.to_be_bytes());
    let mut v5_short_count = v5(0, 3);
    v5_short_count[2..4].copy_from_slice(&2u16.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "truncated"),
        ("one byte", vec![0], "truncated"),
        ("v9 header", good_v9[..19].to_vec(), "truncated"),
        ("ipfix header", good_ipfix[..15].to_vec(), "truncated"),
        ("ipfix length below the header", ipfix_short_length, "bad_length"),
        ("ipfix length past the end", ipfix_long_length, "bad_length"),
        ("set shorter than its header", v9_bad_set, "bad_set_length"),
        ("set past the end", v9_set_past_end, "bad_set_length"),
        ("v9 reserved set", v9(1, 0, &[set(5, &[0; 4])]), "reserved_set_id"),
        ("ipfix set 1", ipfix(1, 0, &[set(1, &[0; 4])]), "reserved_set_id"),
        ("ipfix set 0", ipfix(1, 0, &[set(0, &[0; 4])]), "reserved_set_id"),
        ("v5 header", v5(0, 1)[..23].to_vec(), "truncated"),
        ("v5 count above the records", v5_long_count, "truncated"),
        ("v5 count below the records", v5_short_count, "bad_length"),
    ];
    let mut sp = Splitter::new(3, SplitterConfig::default());
    for (what, datagram, kind) in cases {
        let mut out = Outputs::new();
        let err = sp.split(source(), &datagram, &mut out).unwrap_err();
        assert!(matches!(err, SplitError::Malformed(_)), "{what}: {err}");
        assert_eq!(err.kind(), kind, "{what}: {err}");
        assert!(out.is_empty(), "{what}: nothing forwarded");
        assert!(
            crate::relay::metrics::MALFORMED_REASONS.contains(&kind),
            "{kind} is pre-registered"
        );
    }
    // Trailing bytes too short for a set header are padding, as for the decoder.
    let mut padded = good_v9.clone();
    padded.extend_from_slice(&[0, 0, 0]);
    assert!(sp.split(source(), &padded, &mut Outputs::new()).is_ok());
}

#[test]
fn other_versions_pass_through_unchanged_one_slave_in_turn() {
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut out = Outputs::new();
    let sflow = [0u8, 0, 0, 5, 0, 0, 0, 1, 7, 7, 7];
    for _ in 0..4 {
        let r = sp.split(source(), &sflow, &mut out).unwrap();
        assert!(r.passed_through);
    }
    let got: Vec<(usize, Vec<u8>)> = out.iter().map(|(o, p)| (o.slave, p.to_vec())).collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [0, 1, 2, 0]);
    assert!(got.iter().all(|g| g.1 == sflow));
}

#[test]
fn domains_beyond_the_bound_are_rejected() {
    let cfg = SplitterConfig {
        max_domains: 2,
        ..SplitterConfig::default()
    };
    let mut sp = Splitter::new(2, cfg);
    let mut out = Outputs::new();
    sp.split(source(), &v5(0, 2), &mut out).unwrap();
    sp.split(source(), &v9(0, 1, &[]), &mut out).unwrap();
    let err = sp.split(source(), &v9(0, 2, &[]), &mut out).unwrap_err();
    assert_eq!(err, SplitError::TooManyDomains { limit: 2 });
    assert_eq!(err.kind(), "too_many_domains");
    assert!(
        sp.split(source(), &v9(1, 1, &[]), &mut out).is_ok(),
        "known domains go on"
    );
    assert_eq!(sp.domains(), 2);
}

#[test]
fn templates_beyond_the_bound_take_the_unknown_template_path() {
    let cfg = SplitterConfig {
        max_templates: 1,
        ..SplitterConfig::default()
    };
    let mut sp = Splitter::new(2, cfg);
    let mut slaves = Slaves::new(2);
    let tpl = set(
        0,
        &[template(256, &SMALL_V4), template(257, &[(8, 4), (1, 4)])].concat(),
    );
    let dg = v9(1, 0, &[tpl, set(256, &records(1, 4)), set(257, &short_records(1, 3))]);
    let (report, _) = run(&mut sp, &mut slaves, &dg);
    assert_eq!(
        (report.templates_not_learned, report.unknown_sets, report.flows),
        (1, 1, 4)
    );
    assert_eq!(sp.templates(), 1);
    slaves.assert_clean();
    assert_eq!(sorted(&slaves.all_flows()), sorted(&direct(&[&dg])));
}

#[test]
fn data_only_datagrams_do_not_allocate() {
    let mut sp = Splitter::new(3, SplitterConfig::default());
    let mut out = Outputs::new();
    let tpl = set(2, &template(256, &SMALL_V4));
    sp.split(source(), &ipfix(0, 1, &[tpl, set(256, &records(1, 30))]), &mut out)
        .unwrap();
    let data: Vec<Vec<u8>> = (0..8)
        .map(|i| ipfix(30 * (i + 1), 1, &[set(256, &records(1, 30))]))
        .collect();
    // Warm the arenas to a batch's size.
    for dg in &data {
        sp.split(source(), dg, &mut out).unwrap();
    }
    let n = allocations(|| {
        for _ in 0..10 {
            out.clear();
            for dg in &data {
                sp.split(source(), dg, &mut out).unwrap();
            }
        }
    });
    assert_eq!(n, 0);
    assert_eq!(out.len(), 24);
}

#[test]
fn random_damage_never_panics_and_never_grows_a_datagram() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_5911);
    let var = set(2, &template(256, &[(8, 4), (96, 65535), (2, 4)]));
    let bases = [
        v9(
            1,
            0,
            &[
                set(1, &v9_options_template(300, &[(1, 4)], &[(34, 4)])),
                set(300, &[0, 0, 0, 0, 0, 0, 0, 9]),
                set(0, &template(256, &SMALL_V4)),
                set(256, &records(1, 8)),
            ],
        ),
        ipfix(
            0,
            1,
            &[
                var,
                set(
                    256,
                    &[10, 0, 0, 1, 2, b'a', b'b', 0, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 0, 2],
                ),
            ],
        ),
        v5(0, 5),
    ];
    for spread in [Spread::Record, Spread::Datagram] {
        let cfg = SplitterConfig {
            spread,
            ..SplitterConfig::default()
        };
        damage(&mut rng, &bases, Splitter::new(3, cfg));
    }
}

/// Splits 5,000 damaged copies of `bases`, changing the slaves now and then.
fn damage(rng: &mut SmallRng, bases: &[Vec<u8>], mut sp: Splitter) {
    let mut slaves = Slaves::new(3);
    let mut out = Outputs::new();
    for round in 0..5000 {
        if round % 500 == 499 {
            // Some slaves kept (in any order), some added, some gone.
            let now = slaves.decoders.len();
            let mut kept: Vec<usize> = (0..now).filter(|_| rng.random_bool(0.6)).collect();
            kept.sort_by_key(|_| rng.random::<u32>());
            let mut mapping: Vec<Option<usize>> = kept.into_iter().map(Some).collect();
            mapping.extend((0..rng.random_range(0..3)).map(|_| None));
            if mapping.is_empty() {
                mapping.push(None);
            }
            sp.set_slaves(&mapping);
            let mut old: Vec<Option<Decoder>> = std::mem::take(&mut slaves.decoders).into_iter().map(Some).collect();
            slaves.decoders = mapping
                .iter()
                .map(|m| {
                    m.and_then(|o| old[o].take())
                        .unwrap_or_else(|| Decoder::new(DecoderConfig::default()))
                })
                .collect();
            assert_eq!(sp.slaves(), slaves.decoders.len());
        }
        let mut d = bases[rng.random_range(0..bases.len())].clone();
        for _ in 0..rng.random_range(0..4) {
            let i = rng.random_range(0..d.len());
            d[i] = rng.random();
        }
        if rng.random_bool(0.3) {
            d.truncate(rng.random_range(0..=d.len()));
        }
        out.clear();
        if sp.split(source(), &d, &mut out).is_ok() {
            for (o, p) in out.iter() {
                assert!(p.len() <= d.len(), "an output longer than its input");
                assert!(
                    o.slave < slaves.decoders.len(),
                    "an output for a slave that is not there"
                );
                let _ = slaves.decoders[o.slave].decode(o.source.ip(), p, RECEIVED_MS, &mut Sink::default());
            }
        }
    }
}

/// The slaves change between datagrams: an added slave that first decodes the template
/// cache's replay (what the spreader sends it) decodes its records at once, with no gap and
/// nothing held; a removed slave gets nothing more; every flow is decoded once.
#[test]
fn slaves_added_and_removed_between_datagrams_lose_and_double_nothing() {
    use crate::relay::template_cache::{Replay, TemplateCache, TemplateCacheConfig};

    let v9_first = v9(
        1,
        9,
        &[
            set(1, &v9_options_template(300, &[(1, 4)], &[(34, 4), (35, 1)])),
            set(300, &[0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0]),
            set(0, &template(256, &SMALL_V4)),
            set(256, &records(1, 9)),
        ],
    );
    let ipfix_first = ipfix(100, 7, &[set(2, &template(256, &SMALL_V4)), set(256, &records(1, 8))]);
    let v9_more = |seq: u32, first: u8| v9(seq, 9, &[set(256, &records(first, 7))]);
    // IPFIX counts data records: 8 in the first message, 7 in each later one.
    let ipfix_more = |n: u32, first: u8| ipfix(108 + 7 * n, 7, &[set(256, &records(first, 7))]);

    let mut sp = Splitter::new(2, SplitterConfig::default());
    let mut cache = TemplateCache::new(TemplateCacheConfig::default());
    let mut scratch = Replay::default();
    let mut slaves = Slaves::new(2);
    let mut all: Vec<Vec<u8>> = Vec::new();
    let mut feed = |sp: &mut Splitter, slaves: &mut Slaves, cache: &mut TemplateCache, dg: Vec<u8>| {
        cache.forward(source(), 0, &dg, &mut scratch);
        run(sp, slaves, &dg);
        all.push(dg);
    };
    feed(&mut sp, &mut slaves, &mut cache, v9_first.clone());
    feed(&mut sp, &mut slaves, &mut cache, ipfix_first.clone());
    feed(&mut sp, &mut slaves, &mut cache, v9_more(2, 20));
    feed(&mut sp, &mut slaves, &mut cache, ipfix_more(0, 20));

    // A third slave: the replay first, then its turn.
    sp.set_slaves(&[Some(0), Some(1), None]);
    slaves.decoders.push(Decoder::new(DecoderConfig::default()));
    slaves.flows.push(Vec::new());
    slaves.reports.push(Vec::new());
    let mut replay = Replay::default();
    assert!(
        cache.replay(source().ip(), 2, &mut replay) >= 2,
        "templates of both versions"
    );
    for (d, payload) in replay.iter() {
        let mut sink = Sink::default();
        let report = slaves.decoders[2].decode(d.source.ip(), payload, RECEIVED_MS, &mut sink);
        assert_eq!(report.flows, 0, "a replay carries no flow");
        slaves.reports[2].push(report);
    }
    feed(&mut sp, &mut slaves, &mut cache, v9_more(3, 40));
    feed(&mut sp, &mut slaves, &mut cache, ipfix_more(1, 40));
    feed(&mut sp, &mut slaves, &mut cache, v9_more(4, 60));
    feed(&mut sp, &mut slaves, &mut cache, ipfix_more(2, 60));
    assert!(
        slaves.flows[2].len() >= 8,
        "the added slave decodes its share: {:?}",
        slaves.counts()
    );
    let v9_on_added: Vec<_> = slaves.flows[2].iter().filter(|f| f.observation_domain == 9).collect();
    assert!(
        !v9_on_added.is_empty() && v9_on_added.iter().all(|f| f.sampling_interval == Some(512)),
        "the v9 sampling options reached the added slave: {v9_on_added:?}"
    );

    // The first slave leaves: the others (now positions 0 and 1) go on without a gap.
    sp.set_slaves(&[Some(1), Some(2)]);
    let retired = slaves.flows.remove(0);
    slaves.decoders.remove(0);
    let retired_reports = slaves.reports.remove(0);
    let before = retired.len();
    feed(&mut sp, &mut slaves, &mut cache, v9_more(5, 80));
    feed(&mut sp, &mut slaves, &mut cache, ipfix_more(3, 80));
    slaves.assert_clean();
    assert!(retired_reports.iter().all(|r| r.sequence_gap == 0 && r.error.is_none()));

    let mut decoded = slaves.all_flows();
    decoded.extend(retired.iter().copied());
    assert_eq!(retired.len(), before);
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    assert_eq!(sorted(&decoded), sorted(&direct(&refs)), "every flow once");
}

/// `Spread::Datagram`: every slave gets the templates and options, each datagram's data
/// records go to one slave, the slaves in turn; one datagram out per data-only datagram in;
/// every slave decodes without a gap, and the flows are those of direct decoding.
#[test]
fn whole_datagrams_go_to_the_slaves_in_turn() {
    let cfg = SplitterConfig {
        spread: Spread::Datagram,
        ..SplitterConfig::default()
    };
    let first = v9(
        1,
        9,
        &[
            set(1, &v9_options_template(300, &[(1, 4)], &[(34, 4), (35, 1)])),
            set(300, &[0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0]),
            set(0, &template(256, &SMALL_V4)),
            set(256, &records(1, 10)),
        ],
    );
    let mut datagrams = vec![first];
    datagrams.extend((2..=7).map(|seq| v9(seq, 9, &[set(256, &records(10 * seq as u8, 5))])));
    let ipfix_first = ipfix(50, 3, &[set(2, &template(256, &SMALL_V4)), set(256, &records(1, 4))]);
    datagrams.push(ipfix_first);
    datagrams.extend((0..3u32).map(|i| ipfix(54 + 4 * i, 3, &[set(256, &records(100 + 4 * i as u8, 4))])));
    datagrams.extend((0..3u32).map(|i| v5(1 + 3 * i, 3)));

    let mut sp = Splitter::new(3, cfg);
    let mut slaves = Slaves::new(3);
    for (i, dg) in datagrams.iter().enumerate() {
        let (_, out) = run(&mut sp, &mut slaves, dg);
        let with_flows: Vec<usize> = out.iter().filter(|(o, _)| o.flows > 0).map(|(o, _)| o.slave).collect();
        assert_eq!(
            with_flows.len(),
            1,
            "datagram {i}: one slave gets its records: {with_flows:?}"
        );
        if ![0, 7].contains(&i) {
            assert_eq!(out.len(), 1, "datagram {i} carries data only: one datagram out");
        }
    }
    slaves.assert_clean();
    let refs: Vec<&[u8]> = datagrams.iter().map(Vec::as_slice).collect();
    assert_eq!(sorted(&slaves.all_flows()), sorted(&direct(&refs)));
    // v9: 10 + 6 x 5 records over 7 datagrams; IPFIX 4 x 4; v5 3 x 3: each slave got a turn
    // of each exporter.
    let counts = slaves.counts();
    assert!(counts.iter().all(|c| *c > 0), "{counts:?}");
    assert!(
        spread(&counts) <= 10 + 4 + 3,
        "within one datagram per exporter: {counts:?}"
    );
    let sampled = slaves
        .all_flows()
        .iter()
        .filter(|f| f.observation_domain == 9)
        .all(|f| f.sampling_interval == Some(512));
    assert!(sampled, "every slave had the v9 sampling options");
}
