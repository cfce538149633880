//! Hand-built packets: field mapping, fallbacks, times, sampling, ICMP, held data, withdrawal,
//! observation domains, variable-length and enterprise fields.

use engine::addr::{from_v4_bytes, from_v4_u32};
use flowfold_ingest::decode::{Decoder, DecoderConfig};

use crate::packets::*;
use crate::util::{decode_one, decoder};

const SECS: u32 = 1_700_000_000;
const EXPORT_MS: i64 = SECS as i64 * 1000;

#[test]
fn v5_fields_times_domain_and_header_sampling() {
    let mut b = v5_header(2, 10_000, SECS, 7, (1, 2), 0x4000 | 100);
    b = b
        .raw(&v5_record(5, 500, 4_000, 9_000))
        .raw(&v5_record(1, 40, 9_999, 10_500));
    let (flows, r) = decode_one(&mut decoder(), &b.0);
    assert_eq!(r.error, None);
    assert_eq!((r.version, r.flows), (5, 2));
    let f = flows[0];
    assert_eq!(f.observation_domain, 0x0102);
    assert_eq!(f.src_addr, Some(from_v4_bytes([10, 0, 0, 1])));
    assert_eq!(f.next_hop, Some(from_v4_bytes([10, 0, 0, 254])));
    assert_eq!(
        (f.src_port, f.dst_port, f.protocol, f.tos),
        (Some(1000), Some(80), Some(6), Some(0x10))
    );
    assert_eq!(
        (f.tcp_flags, f.src_as, f.dst_as),
        (Some(0x12), Some(64512), Some(15169))
    );
    assert_eq!(
        (f.src_mask, f.dst_mask, f.input_if, f.output_if),
        (Some(24), Some(16), Some(3), Some(4))
    );
    // Header sampling is reported but not applied.
    assert_eq!(
        (f.packets, f.bytes, f.sampling_interval),
        (Some(5), Some(500), Some(100))
    );
    assert_eq!(f.flow_start, EXPORT_MS - 10_000 + 4_000);
    assert_eq!(f.flow_end, Some(EXPORT_MS - 1_000));
    assert_eq!(flows[1].flow_end, Some(EXPORT_MS + 500));
    assert_eq!((f.vlan, f.direction), (None, None));

    let unsampled = v5_header(1, 10_000, SECS, 7, (0, 0), 0).raw(&v5_record(1, 1, 0, 0));
    let (flows, _) = decode_one(&mut decoder(), &unsampled.0);
    assert_eq!(flows[0].sampling_interval, None);
}

#[test]
fn v9_absent_fields_are_null_and_reduced_sizes_work() {
    let tpl = set(
        0,
        &template(
            300,
            &[(8, 4), (12, 4), (2, 3), (1, 5), (10, 2), (16, 2), (22, 4), (21, 4)],
        ),
    );
    let rec = Bytes::default()
        .raw(&[192, 0, 2, 10])
        .raw(&[198, 51, 100, 20])
        .raw(&[0x01, 0x00, 0x00])
        .raw(&[0x01, 0x00, 0x00, 0x00, 0x00])
        .u16(7)
        .u16(65000)
        .u32(1_000)
        .u32(2_500);
    let dg = v9(3_000, SECS, 0, 5, &[tpl, set(300, &rec.0)]);
    let (flows, r) = decode_one(&mut decoder(), &dg);
    assert_eq!((r.error, r.flows, r.templates), (None, 1, 1));
    let f = flows[0];
    assert_eq!(f.observation_domain, 5);
    assert_eq!(f.packets, Some(0x010000));
    assert_eq!(f.bytes, Some(0x0100000000));
    assert_eq!((f.input_if, f.src_as), (Some(7), Some(65000)));
    assert_eq!(f.flow_start, EXPORT_MS - 2_000);
    assert_eq!(f.flow_end, Some(EXPORT_MS - 500));
    assert_eq!(
        (f.src_port, f.protocol, f.vlan, f.next_hop, f.sampling_interval),
        (None, None, None, None, None)
    );
}

#[test]
fn fallback_fields_fill_in() {
    // totals for deltas, out counts, UDP ports, BGP next hop, dot1qVlanId, no times.
    let fields = [(85, 8), (24, 4), (180, 2), (181, 2), (18, 4), (243, 2), (61, 1)];
    let rec = Bytes::default()
        .u64(900)
        .u32(9)
        .u16(53)
        .u16(5353)
        .raw(&[203, 0, 113, 1])
        .u16(42)
        .u8(1);
    let dg = ipfix(SECS, 0, 1, &[set(2, &template(256, &fields)), set(256, &rec.0)]);
    let (flows, r) = decode_one(&mut decoder(), &dg);
    assert_eq!(r.error, None);
    let f = flows[0];
    assert_eq!(
        (f.bytes, f.packets, f.src_port, f.dst_port),
        (Some(900), Some(9), Some(53), Some(5353))
    );
    assert_eq!(
        (f.next_hop, f.vlan, f.direction),
        (Some(from_v4_bytes([203, 0, 113, 1])), Some(42), Some(1))
    );
    assert_eq!((f.flow_start, f.flow_end), (EXPORT_MS, None), "no times: export time");
}

#[test]
fn icmp_type_code_goes_to_dst_port() {
    let fields = [(4, 1), (32, 2)];
    let body = [
        Bytes::default().u8(1).u16(0x0800).0,
        Bytes::default().u8(17).u16(0x0303).0,
    ]
    .concat();
    let dg = ipfix(SECS, 0, 1, &[set(2, &template(256, &fields)), set(256, &body)]);
    let (flows, _) = decode_one(&mut decoder(), &dg);
    assert_eq!((flows[0].src_port, flows[0].dst_port), (Some(0), Some(0x0800)));
    assert_eq!((flows[1].src_port, flows[1].dst_port), (None, None));
}

/// Template fields, record, expected start and end.
type TimeCase = (Vec<(u16, u16)>, Vec<u8>, i64, i64);

#[test]
fn ipfix_time_encodings() {
    let ntp = |unix_ms: u64| ((unix_ms / 1000 + 2_208_988_800) << 32) | (((unix_ms % 1000) << 32) / 1000 + 1);
    let t0 = EXPORT_MS as u64 - 60_000;
    let cases: Vec<TimeCase> = vec![
        (
            vec![(150, 4), (151, 4)],
            Bytes::default().u32((t0 / 1000) as u32).u32(SECS).0,
            t0 as i64,
            EXPORT_MS,
        ),
        (
            vec![(154, 8), (155, 8)],
            Bytes::default().u64(t0 * 1000 + 999).u64(t0 * 1000 + 5_000).0,
            t0 as i64,
            t0 as i64 + 5,
        ),
        (
            vec![(156, 8), (157, 8)],
            Bytes::default().u64(ntp(t0 + 250)).u64(ntp(t0 + 1_500)).0,
            t0 as i64 + 250,
            t0 as i64 + 1_500,
        ),
        (
            vec![(158, 4), (159, 4)],
            Bytes::default().u32(30_000_000).u32(1_000_000).0,
            EXPORT_MS - 30_000,
            EXPORT_MS - 1_000,
        ),
        // sysUpTime-relative without systemInitTime: the end is taken as the export time.
        (
            vec![(22, 4), (21, 4)],
            Bytes::default().u32(1_000).u32(4_000).0,
            EXPORT_MS - 3_000,
            EXPORT_MS,
        ),
    ];
    for (fields, rec, start, end) in cases {
        let dg = ipfix(SECS, 0, 1, &[set(2, &template(256, &fields)), set(256, &rec)]);
        let (flows, r) = decode_one(&mut decoder(), &dg);
        assert_eq!(r.error, None, "{fields:?}");
        assert_eq!(
            (flows[0].flow_start, flows[0].flow_end),
            (start, Some(end)),
            "{fields:?}"
        );
    }
}

#[test]
fn ipfix_system_init_time_from_options() {
    let init = EXPORT_MS as u64 - 86_400_000;
    let opts_tpl = set(3, &ipfix_options_template(400, 1, &[(149, 4), (160, 8)]));
    let opts = set(400, &Bytes::default().u32(1).u64(init).0);
    let tpl = set(2, &template(256, &[(22, 4), (21, 4)]));
    let data = set(256, &Bytes::default().u32(1_000).u32(2_000).0);
    let mut d = decoder();
    let (flows, r) = decode_one(&mut d, &ipfix(SECS, 0, 1, &[opts_tpl, opts, tpl, data]));
    assert_eq!(r.error, None);
    assert_eq!(flows[0].flow_start, init as i64 + 1_000);
    assert_eq!(flows[0].flow_end, Some(init as i64 + 2_000));
}

#[test]
fn v9_sampling_options_scale_counts_per_sampler() {
    // System-wide interval 10, and samplers 1 -> 50 and 2 -> 7 (FLOW_SAMPLER_ID, RANDOM_INTERVAL).
    let sys_tpl = v9_options_template(260, &[(1, 4)], &[(34, 4), (35, 1)]);
    let smp_tpl = v9_options_template(261, &[(1, 4)], &[(48, 1), (50, 4)]);
    let sys = Bytes::default().u32(0).u32(10).u8(2).raw(&[0, 0, 0]);
    let smp = Bytes::default().u32(0).u8(1).u32(50).u32(0).u8(2).u32(7).raw(&[0, 0]);
    let data_tpl = template(256, &[(2, 4), (1, 4), (48, 1)]);
    let plain_tpl = template(257, &SMALL_V4);
    let data = Bytes::default()
        .u32(2)
        .u32(100)
        .u8(1)
        .u32(3)
        .u32(30)
        .u8(2)
        .u32(1)
        .u32(1)
        .u8(9);
    let plain = small_v4([10, 0, 0, 1], [10, 0, 0, 2], 4, 400, 17);
    let dg = v9(
        1_000,
        SECS,
        0,
        0,
        &[
            set(1, &[sys_tpl, smp_tpl].concat()),
            set(260, &sys.0),
            set(261, &smp.0),
            set(0, &[data_tpl, plain_tpl].concat()),
            set(256, &data.0),
            set(257, &plain),
        ],
    );
    let mut d = decoder();
    let g0 = d.template_generation();
    let (flows, r) = decode_one(&mut d, &dg);
    assert_eq!(r.error, None);
    assert_eq!(r.flows, 4);
    assert_eq!(r.templates, 4);
    let counts: Vec<_> = flows
        .iter()
        .map(|f| (f.packets, f.bytes, f.sampling_interval))
        .collect();
    assert_eq!(
        counts,
        vec![
            (Some(100), Some(5_000), Some(50)),
            (Some(21), Some(210), Some(7)),
            (Some(10), Some(10), Some(10)), // unknown sampler 9: the domain's interval
            (Some(40), Some(4_000), Some(10)),
        ]
    );
    assert!(d.template_generation() > g0);
}

#[test]
fn data_before_template_is_held_then_released() {
    let data = set(
        256,
        &[
            small_v4([10, 0, 0, 1], [10, 0, 0, 2], 3, 300, 6),
            small_v4([10, 0, 0, 3], [10, 0, 0, 4], 1, 60, 17),
        ]
        .concat(),
    );
    let tpl = set(0, &template(256, &SMALL_V4));
    let mut d = decoder();
    let (flows, r) = decode_one(&mut d, &v9(1_000, SECS, 0, 1, std::slice::from_ref(&data)));
    assert_eq!((flows.len(), r.held_sets, r.error), (0, 1, None));
    assert_eq!(d.held_sets(), 1);
    // The template arrives with more data in the same datagram.
    let (flows, r) = decode_one(&mut d, &v9(2_000, SECS + 1, 1, 1, &[tpl, data]));
    assert_eq!((r.flows, r.released_flows, r.held_sets), (4, 2, 0));
    assert_eq!(d.held_sets(), 0);
    // The released flows keep the times of their own datagram (export time of the first).
    assert_eq!(flows.iter().filter(|f| f.flow_start == EXPORT_MS).count(), 2);
    assert_eq!(flows.iter().filter(|f| f.flow_start == EXPORT_MS + 1_000).count(), 2);
    assert_eq!(flows.iter().map(|f| f.bytes.unwrap()).sum::<u64>(), 720);
    // Another domain's template does not release it.
    let mut d = decoder();
    decode_one(
        &mut d,
        &v9(
            1_000,
            SECS,
            0,
            1,
            &[set(256, &small_v4([1, 1, 1, 1], [2, 2, 2, 2], 1, 1, 6))],
        ),
    );
    let (_, r) = decode_one(&mut d, &v9(1_000, SECS, 0, 2, &[set(0, &template(256, &SMALL_V4))]));
    assert_eq!((r.released_flows, d.held_sets()), (0, 1));
}

#[test]
fn held_sets_are_bounded() {
    let mut d = Decoder::new(DecoderConfig {
        max_held_sets: 2,
        ..DecoderConfig::default()
    });
    let data = set(256, &small_v4([10, 0, 0, 1], [10, 0, 0, 2], 3, 300, 6));
    let dg = v9(1_000, SECS, 0, 1, &[data.clone(), data.clone(), data]);
    let (_, r) = decode_one(&mut d, &dg);
    assert_eq!((r.held_sets, r.dropped_held), (3, 1));
    let (flows, r) = decode_one(&mut d, &v9(1_000, SECS, 1, 1, &[set(0, &template(256, &SMALL_V4))]));
    assert_eq!((flows.len(), r.released_flows), (2, 2));
}

#[test]
fn ipfix_withdrawal_removes_templates() {
    let rec = small_v4([10, 0, 0, 1], [10, 0, 0, 2], 3, 300, 6);
    let tpls = set(2, &[template(256, &SMALL_V4), template(257, &SMALL_V4)].concat());
    let mut d = decoder();
    let (_, r) = decode_one(&mut d, &ipfix(SECS, 0, 1, &[tpls, set(256, &rec), set(257, &rec)]));
    assert_eq!(r.flows, 2);
    let g = d.template_generation();
    // Withdraw 256 only: its data is held, 257 still decodes.
    let withdraw = set(2, &Bytes::default().u16(256).u16(0).0);
    let (_, r) = decode_one(&mut d, &ipfix(SECS, 2, 1, &[withdraw, set(256, &rec), set(257, &rec)]));
    assert_eq!((r.flows, r.held_sets, r.templates), (1, 1, 1));
    assert!(d.template_generation() > g);
    // Withdraw all data templates (id 2).
    let all = set(2, &Bytes::default().u16(2).u16(0).0);
    let (_, r) = decode_one(&mut d, &ipfix(SECS, 3, 1, &[all, set(257, &rec)]));
    assert_eq!((r.flows, r.held_sets), (0, 1));
    assert!(d.template_snapshot().domains.iter().all(|s| s.templates.is_empty()));
}

#[test]
fn observation_domains_keep_their_own_templates() {
    let a = template(256, &SMALL_V4);
    let b = template(256, &[(12, 4), (8, 4), (1, 4)]);
    let mut d = decoder();
    decode_one(&mut d, &ipfix(SECS, 0, 1, &[set(2, &a)]));
    decode_one(&mut d, &ipfix(SECS, 0, 2, &[set(2, &b)]));
    let rec_a = small_v4([10, 0, 0, 1], [10, 0, 0, 2], 3, 300, 6);
    let rec_b = Bytes::default().raw(&[10, 0, 0, 2]).raw(&[10, 0, 0, 1]).u32(77).0;
    let (fa, _) = decode_one(&mut d, &ipfix(SECS, 0, 1, &[set(256, &rec_a)]));
    let (fb, _) = decode_one(&mut d, &ipfix(SECS, 0, 2, &[set(256, &rec_b)]));
    assert_eq!(
        (fa[0].observation_domain, fa[0].bytes, fa[0].protocol),
        (1, Some(300), Some(6))
    );
    assert_eq!(
        (fb[0].observation_domain, fb[0].bytes, fb[0].protocol),
        (2, Some(77), None)
    );
    assert_eq!(fa[0].src_addr, fb[0].src_addr);
}

#[test]
fn variable_length_and_enterprise_fields_are_skipped() {
    // src, enterprise (PEN 9) 4 bytes, interfaceName varlen, dst, packets, applicationName varlen.
    let tpl = Bytes::default()
        .u16(256)
        .u16(6)
        .u16(8)
        .u16(4)
        .u16(0x8000 | 100)
        .u16(4)
        .u32(9)
        .u16(82)
        .u16(65535)
        .u16(12)
        .u16(4)
        .u16(2)
        .u16(4)
        .u16(96)
        .u16(65535);
    let long = vec![b'x'; 300];
    let r1 = Bytes::default()
        .raw(&[10, 0, 0, 1])
        .u32(0xdead_beef)
        .u8(3)
        .raw(b"ge0")
        .raw(&[10, 0, 0, 2])
        .u32(5)
        .u8(0);
    let r2 = Bytes::default()
        .raw(&[10, 0, 0, 3])
        .u32(1)
        .u8(255)
        .u16(300)
        .raw(&long)
        .raw(&[10, 0, 0, 4])
        .u32(6)
        .u8(2)
        .raw(b"ok");
    let dg = ipfix(SECS, 0, 1, &[set(2, &tpl.0), set(256, &[r1.0, r2.0].concat())]);
    let (flows, r) = decode_one(&mut decoder(), &dg);
    assert_eq!((r.error, r.flows), (None, 2));
    assert_eq!(flows[0].dst_addr, Some(from_v4_u32(0x0a00_0002)));
    assert_eq!((flows[0].packets, flows[1].packets), (Some(5), Some(6)));
    assert_eq!(flows[1].src_addr, Some(from_v4_u32(0x0a00_0003)));
    assert_eq!(flows[1].dst_addr, Some(from_v4_u32(0x0a00_0004)));
    // A record cut inside a variable-length field: the complete one decodes, then an error.
    let cut = Bytes::default()
        .raw(&[10, 0, 0, 1])
        .u32(0)
        .u8(3)
        .raw(b"ge0")
        .raw(&[10, 0, 0, 2])
        .u32(5)
        .u8(0)
        .raw(&[10, 0, 0, 3])
        .u32(1)
        .u8(200)
        .raw(b"short, but longer than a record");
    let dg = ipfix(SECS, 0, 1, &[set(2, &tpl.0), set(256, &cut.0)]);
    let (flows, r) = decode_one(&mut decoder(), &dg);
    assert_eq!(flows.len(), 1);
    assert_eq!(r.error.map(|e| e.kind()), Some("truncated"));
}

#[test]
fn template_refresh_replaces_and_identical_refresh_keeps_generation() {
    let mut d = decoder();
    decode_one(&mut d, &ipfix(SECS, 0, 1, &[set(2, &template(256, &SMALL_V4))]));
    let g = d.template_generation();
    decode_one(&mut d, &ipfix(SECS, 0, 1, &[set(2, &template(256, &SMALL_V4))]));
    assert_eq!(d.template_generation(), g);
    decode_one(&mut d, &ipfix(SECS, 0, 1, &[set(2, &template(256, &[(8, 4), (1, 2)]))]));
    assert!(d.template_generation() > g);
    let (flows, _) = decode_one(
        &mut d,
        &ipfix(SECS, 0, 1, &[set(256, &Bytes::default().raw(&[1, 2, 3, 4]).u16(9).0)]),
    );
    assert_eq!((flows[0].bytes, flows[0].packets), (Some(9), None));
}

#[test]
fn ipfix_sequence_counts_data_records() {
    let tpl = set(2, &template(256, &SMALL_V4));
    let two = set(
        256,
        &[
            small_v4([1, 1, 1, 1], [2, 2, 2, 2], 1, 1, 6),
            small_v4([1, 1, 1, 1], [2, 2, 2, 2], 1, 1, 6),
        ]
        .concat(),
    );
    let mut d = decoder();
    assert_eq!(
        decode_one(&mut d, &ipfix(SECS, 100, 1, &[tpl, two.clone()]))
            .1
            .sequence_gap,
        0
    );
    assert_eq!(
        decode_one(&mut d, &ipfix(SECS, 102, 1, std::slice::from_ref(&two)))
            .1
            .sequence_gap,
        0
    );
    assert_eq!(
        decode_one(&mut d, &ipfix(SECS, 110, 1, std::slice::from_ref(&two)))
            .1
            .sequence_gap,
        6
    );
    // Another domain has its own counter.
    assert_eq!(decode_one(&mut d, &ipfix(SECS, 5, 2, &[two])).1.sequence_gap, 0);
}
