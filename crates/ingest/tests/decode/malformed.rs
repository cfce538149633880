//! Truncated, random and malformed datagrams: the right error kind, never a panic.

use datasets::encode::{Encoder, EncoderConfig, Format};
use engine::FlowBatchBuilder;
use flowfold_ingest::error::DecodeError;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::packets::*;
use crate::round_trip::flows;
use crate::util::{decode_one, decoder, exporter};

fn kind(dg: &[u8]) -> Option<&'static str> {
    decode_one(&mut decoder(), dg).1.error.map(|e| e.kind())
}

#[test]
fn error_kinds() {
    assert_eq!(kind(&[]), Some("truncated"));
    assert_eq!(kind(&[0, 9, 1]), Some("truncated"));
    assert_eq!(kind(&[0, 7, 0, 0]), Some("unsupported_version"));
    assert_eq!(
        kind(&v5_header(2, 0, 0, 0, (0, 0), 0).raw(&v5_record(1, 1, 0, 0)).0),
        Some("truncated")
    );
    assert_eq!(
        kind(&v5_header(0, 0, 0, 0, (0, 0), 0).raw(&v5_record(1, 1, 0, 0)).0),
        Some("bad_length")
    );
    // A set claiming more bytes than remain.
    let mut dg = v9(0, 1, 0, 0, &[set(0, &template(256, &SMALL_V4))]);
    dg[22] = 0x7f;
    assert_eq!(kind(&dg), Some("bad_set_length"));
    assert_eq!(kind(&v9(0, 1, 0, 0, &[set(77, &[0; 8])])), Some("reserved_set_id"));
    assert_eq!(kind(&ipfix(1, 0, 0, &[set(1, &[0; 8])])), Some("reserved_set_id"));
    assert_eq!(
        kind(&ipfix(1, 0, 0, &[set(2, &template(12, &SMALL_V4))])),
        Some("bad_template")
    );
    assert_eq!(
        kind(&ipfix(1, 0, 0, &[set(2, &template(300, &[(8, 0)]))])),
        Some("bad_template")
    );
    assert_eq!(
        kind(&ipfix(1, 0, 0, &[set(3, &ipfix_options_template(300, 0, &[(34, 4)]))])),
        Some("bad_template")
    );
    let mut long = ipfix(1, 0, 0, &[]);
    long[3] = 200;
    assert_eq!(kind(&long), Some("bad_length"));
    // A template record cut short.
    let t = template(256, &SMALL_V4);
    assert_eq!(kind(&ipfix(1, 0, 0, &[set(2, &t[..10])])), Some("truncated"));
    assert_eq!(kind(&v9(0, 1, 0, 0, &[set(0, &t[..10])])), Some("truncated"));
}

#[test]
fn first_error_reported_and_later_sets_still_decoded() {
    let dg = v9(
        0,
        1,
        0,
        0,
        &[
            set(9, &[0; 4]),
            set(0, &template(256, &SMALL_V4)),
            set(256, &small_v4([1, 1, 1, 1], [2, 2, 2, 2], 1, 1, 6)),
        ],
    );
    let (flows, r) = decode_one(&mut decoder(), &dg);
    assert_eq!(r.error, Some(DecodeError::ReservedSetId { set_id: 9 }));
    assert_eq!(flows.len(), 1);
}

fn valid_datagrams() -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for format in [Format::V5, Format::V9, Format::Ipfix] {
        let mut enc = Encoder::new(EncoderConfig {
            sampling_interval: Some(4),
            ..EncoderConfig::new(format)
        });
        enc.encode(&flows(40, 1), 1_700_000_100_000, &mut all);
    }
    all.push(ipfix(
        1,
        0,
        0,
        &[set(
            2,
            &[
                0x01, 0x00, 0x00, 0x02, 0x00, 0x08, 0xff, 0xff, 0x80, 0x01, 0xff, 0xff, 0, 0, 0, 9,
            ],
        )],
    ));
    all
}

/// Every prefix of valid datagrams, random bytes, and random bit flips: never a panic, and the
/// decoder stays usable.
#[test]
fn random_truncated_and_corrupted_input_never_panics() {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut d = decoder();
    let mut out = FlowBatchBuilder::with_capacity(1024);
    let valid = valid_datagrams();
    let mut errors = 0usize;
    let mut run = |d: &mut flowfold_ingest::decode::Decoder, dg: &[u8], out: &mut FlowBatchBuilder| {
        let r = d.decode(exporter(), dg, 0, out);
        if r.error.is_some() {
            errors += 1;
        }
        if out.len() > 100_000 {
            out.finish();
        }
    };
    for dg in &valid {
        for cut in 0..dg.len() {
            run(&mut d, &dg[..cut], &mut out);
        }
    }
    for i in 0..20_000 {
        let mut dg = valid[i % valid.len()].clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..dg.len());
            dg[at] ^= 1 << rng.random_range(0..8);
        }
        run(&mut d, &dg, &mut out);
        let len = rng.random_range(0..200);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if len >= 2 {
            junk[0] = 0;
            junk[1] = [5u8, 9, 10][i % 3];
        }
        run(&mut d, &junk, &mut out);
    }
    assert!(errors > 20_000, "{errors}");
    // Still decodes good input afterwards.
    let mut fresh = FlowBatchBuilder::with_capacity(64);
    let r = d.decode(exporter(), &valid[0], 0, &mut fresh);
    assert_eq!((r.error, r.flows as usize), (None, fresh.len()));
    assert!(r.flows > 0);
}
