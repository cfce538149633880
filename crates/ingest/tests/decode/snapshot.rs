//! Template snapshots: a restarted decoder decodes data at once.

use datasets::encode::{Encoder, EncoderConfig, Format};
use engine::addr::from_ip;
use flowfold_ingest::decode::TemplateSnapshot;

use crate::round_trip::flows;
use crate::util::{decode_all, decoder};

#[test]
fn restored_decoder_decodes_without_templates() {
    for format in [Format::V9, Format::Ipfix] {
        let cfg = EncoderConfig {
            template_refresh_packets: 1_000,
            sampling_interval: Some(8),
            observation_domain: 3,
            ..EncoderConfig::new(format)
        };
        let mut enc = Encoder::new(cfg);
        let input = flows(300, 11);
        let mut datagrams = Vec::new();
        enc.encode(&input, 1_700_000_400_000, &mut datagrams);
        assert!(datagrams.len() > 3);
        let exporter: std::net::IpAddr = "10.9.8.7".parse().unwrap();

        let mut first = decoder();
        let g0 = first.template_generation();
        decode_all(&mut first, exporter, &datagrams[..1]);
        assert!(first.template_generation() > g0);
        let snap = first.template_snapshot();
        assert_eq!(snap.domains.len(), 1);
        assert_eq!(snap.domains[0].templates.len(), 3, "v4, v6 and options templates");
        assert_eq!(snap.domains[0].options.default_interval, Some(8));
        let json = serde_json::to_string(&snap).unwrap();
        let back: TemplateSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);

        let mut restored = decoder();
        restored.restore_templates(back);
        assert_eq!(restored.template_snapshot(), snap);
        let (got, reports) = decode_all(&mut restored, exporter, &datagrams[1..]);
        assert!(
            reports.iter().all(|r| r.held_sets == 0 && r.error.is_none()),
            "{format:?}"
        );
        let (_, first_reports) = decode_all(&mut decoder(), exporter, &datagrams[..1]);
        let skip = first_reports[0].flows as usize;
        let want: Vec<_> = input[skip..]
            .iter()
            .map(|f| enc.expected(f, from_ip(exporter)))
            .collect();
        assert_eq!(got, want, "{format:?}");
    }
}
