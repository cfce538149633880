//! Shared body of the decoder fuzz targets.
//!
//! An input is a sequence of datagrams, each prefixed by a one-byte length (so templates, data
//! and withdrawals can span datagrams and exercise held data and state). The family targets
//! overwrite each datagram's version field so the fuzzer stays inside one decoder. A run accepts
//! only results: no panic, a known error kind, and as many flows appended as reported.

use engine::FlowBatchBuilder;
use flowfold_ingest::decode::{Decoder, DecoderConfig};
use flowfold_ingest::error::DecodeError;

/// Decodes `data` as length-prefixed datagrams, forcing `version` if given.
pub fn run(data: &[u8], version: Option<u16>) {
    let mut dec = Decoder::new(DecoderConfig {
        max_held_sets: 8,
        max_held_bytes: 4096,
        ..DecoderConfig::default()
    });
    let mut out = FlowBatchBuilder::with_capacity(64);
    let exporter = std::net::IpAddr::from([192, 0, 2, 1]);
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let mut dg = tail[..n].to_vec();
        rest = &tail[n..];
        if let Some(v) = version
            && dg.len() >= 2
        {
            dg[..2].copy_from_slice(&v.to_be_bytes());
        }
        let before = out.len();
        let r = dec.decode(exporter, &dg, 1_700_000_000_000, &mut out);
        assert_eq!(out.len() - before, r.flows as usize, "flows appended = flows reported");
        assert!(r.released_flows <= r.flows);
        if let Some(e) = &r.error {
            assert!(DecodeError::KINDS.contains(&e.kind()));
        }
    }
    let snap = dec.template_snapshot();
    let mut restored = Decoder::new(DecoderConfig::default());
    restored.restore_templates(snap.clone());
    assert_eq!(restored.template_snapshot(), snap);
    let _ = out.finish();
}
