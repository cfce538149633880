//! Small checked-in captures in `tests/fixtures/` (length-prefixed datagrams, see the README
//! there). Each is built here too: the test checks the file matches its builder, and
//! `FLOWFOLD_REGEN_FIXTURES=1 cargo test` rewrites them.

use std::path::PathBuf;

use engine::addr::from_v4_bytes;

use crate::packets::*;
use crate::util::{decode_all, decoder, exporter};

const SECS: u32 = 1_700_000_000;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Datagrams as a file: each one prefixed by its length (u16, big-endian).
fn pack(datagrams: &[Vec<u8>]) -> Vec<u8> {
    datagrams
        .iter()
        .flat_map(|d| (d.len() as u16).to_be_bytes().into_iter().chain(d.iter().copied()))
        .collect()
}

fn unpack(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while b.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        out.push(b[2..2 + n].to_vec());
        b = &b[2 + n..];
    }
    out
}

/// Loads a fixture, checking it against (or, on request, rewriting it from) its builder.
fn load(name: &str, built: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let p = path(name);
    if std::env::var_os("FLOWFOLD_REGEN_FIXTURES").is_some() {
        std::fs::write(&p, pack(&built)).unwrap();
    }
    let file = unpack(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
    assert_eq!(file, built, "{name} differs from its builder");
    file
}

fn rec(last: u8, packets: u32, bytes: u32) -> Vec<u8> {
    small_v4([10, 0, 0, last], [10, 0, 1, last], packets, bytes, 6)
}

#[test]
fn ipfix_options_template_with_sampling() {
    // Selector 1: 1 in 100 packets; selector 2: 1 in 10 (samplingPacketInterval/Space).
    let opt_tpl = ipfix_options_template(300, 1, &[(302, 2), (305, 4), (306, 4)]);
    let opts = Bytes::default().u16(1).u32(1).u32(99).u16(2).u32(1).u32(9).0;
    let mut fields = SMALL_V4.to_vec();
    fields.push((302, 2));
    let data = [
        [rec(1, 2, 200), 1u16.to_be_bytes().to_vec()].concat(),
        [rec(2, 3, 300), 2u16.to_be_bytes().to_vec()].concat(),
    ]
    .concat();
    let dgs = load(
        "ipfix_options_sampling.bin",
        vec![
            ipfix(
                SECS,
                0,
                5,
                &[set(3, &opt_tpl), set(300, &opts), set(2, &template(256, &fields))],
            ),
            ipfix(SECS + 1, 2, 5, &[set(256, &data)]),
        ],
    );
    let (flows, reports) = decode_all(&mut decoder(), exporter(), &dgs);
    assert!(reports.iter().all(|r| r.error.is_none() && r.sequence_gap == 0));
    let got: Vec<_> = flows
        .iter()
        .map(|f| (f.packets, f.bytes, f.sampling_interval))
        .collect();
    assert_eq!(
        got,
        vec![(Some(200), Some(20_000), Some(100)), (Some(30), Some(3_000), Some(10))]
    );
}

#[test]
fn v9_options_template_with_sampling() {
    let opt_tpl = v9_options_template(300, &[(1, 4)], &[(34, 4), (35, 1)]);
    let opts = Bytes::default().u32(0).u32(512).u8(2).raw(&[0, 0, 0]).0;
    let dgs = load(
        "v9_options_sampling.bin",
        vec![
            v9(60_000, SECS, 0, 9, &[set(1, &opt_tpl), set(300, &opts)]),
            v9(
                61_000,
                SECS + 1,
                1,
                9,
                &[set(0, &template(256, &SMALL_V4)), set(256, &rec(1, 2, 100))],
            ),
        ],
    );
    let (flows, _) = decode_all(&mut decoder(), exporter(), &dgs);
    assert_eq!(flows.len(), 1);
    assert_eq!(
        (flows[0].packets, flows[0].bytes, flows[0].sampling_interval),
        (Some(1024), Some(51_200), Some(512))
    );
    assert_eq!(flows[0].observation_domain, 9);
}

#[test]
fn ipfix_variable_length_and_enterprise_fields() {
    let tpl = Bytes::default()
        .u16(256)
        .u16(5)
        .u16(8)
        .u16(4)
        .u16(0x8000 | 7)
        .u16(65535)
        .u32(29305)
        .u16(12)
        .u16(4)
        .u16(0x8000 | 8)
        .u16(2)
        .u32(29305)
        .u16(1)
        .u16(4)
        .0;
    let r1 = Bytes::default()
        .raw(&[10, 0, 0, 1])
        .u8(2)
        .raw(b"hi")
        .raw(&[10, 0, 0, 2])
        .u16(7)
        .u32(1_500)
        .0;
    let r2 = Bytes::default()
        .raw(&[10, 0, 0, 3])
        .u8(255)
        .u16(260)
        .raw(&[b'a'; 260])
        .raw(&[10, 0, 0, 4])
        .u16(8)
        .u32(64)
        .0;
    let dgs = load(
        "ipfix_varlen_enterprise.bin",
        vec![ipfix(SECS, 0, 1, &[set(2, &tpl), set(256, &[r1, r2].concat())])],
    );
    let (flows, reports) = decode_all(&mut decoder(), exporter(), &dgs);
    assert_eq!(reports[0].error, None);
    let got: Vec<_> = flows.iter().map(|f| (f.src_addr, f.dst_addr, f.bytes)).collect();
    let a = |x| Some(from_v4_bytes([10, 0, 0, x]));
    assert_eq!(got, vec![(a(1), a(2), Some(1_500)), (a(3), a(4), Some(64))]);
}

#[test]
fn v9_data_before_template() {
    let dgs = load(
        "v9_data_before_template.bin",
        vec![
            v9(5_000, SECS, 0, 1, &[set(256, &[rec(1, 1, 10), rec(2, 2, 20)].concat())]),
            v9(6_000, SECS + 1, 1, 1, &[set(0, &template(256, &SMALL_V4))]),
        ],
    );
    let (flows, reports) = decode_all(&mut decoder(), exporter(), &dgs);
    assert_eq!((reports[0].flows, reports[0].held_sets), (0, 1));
    assert_eq!((reports[1].flows, reports[1].released_flows), (2, 2));
    assert_eq!(flows.iter().map(|f| f.bytes.unwrap()).sum::<u64>(), 30);
}

#[test]
fn ipfix_several_observation_domains() {
    let dgs = load(
        "ipfix_domains.bin",
        vec![
            ipfix(
                SECS,
                0,
                1,
                &[set(2, &template(256, &SMALL_V4)), set(256, &rec(1, 1, 10))],
            ),
            ipfix(
                SECS,
                0,
                2,
                &[
                    set(2, &template(256, &[(1, 4), (8, 4)])),
                    set(256, &Bytes::default().u32(99).raw(&[10, 0, 0, 9]).0),
                ],
            ),
            ipfix(SECS, 1, 1, &[set(256, &rec(2, 2, 20))]),
        ],
    );
    let (flows, _) = decode_all(&mut decoder(), exporter(), &dgs);
    let got: Vec<_> = flows
        .iter()
        .map(|f| (f.observation_domain, f.bytes, f.packets))
        .collect();
    assert_eq!(
        got,
        vec![(1, Some(10), Some(1)), (2, Some(99), None), (1, Some(20), Some(2))]
    );
}

#[test]
fn ipfix_template_withdrawal() {
    let dgs = load(
        "ipfix_withdrawal.bin",
        vec![
            ipfix(
                SECS,
                0,
                1,
                &[set(2, &template(256, &SMALL_V4)), set(256, &rec(1, 1, 10))],
            ),
            ipfix(
                SECS,
                1,
                1,
                &[set(2, &Bytes::default().u16(256).u16(0).0), set(256, &rec(2, 2, 20))],
            ),
            ipfix(SECS, 1, 1, &[set(2, &template(256, &[(1, 4), (8, 4), (2, 4), (4, 1)]))]),
        ],
    );
    let (flows, reports) = decode_all(&mut decoder(), exporter(), &dgs);
    assert_eq!((reports[1].flows, reports[1].held_sets), (0, 1));
    // The new layout releases the held set, read with the new template (bytes = first 4 bytes).
    assert_eq!(reports[2].released_flows, 1);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[1].bytes, Some(u64::from(u32::from_be_bytes([10, 0, 0, 2]))));
}
