use super::*;

fn small(flows: u64) -> GenConfig {
    GenConfig {
        flows,
        exporters: 3,
        ..GenConfig::default()
    }
}

#[test]
fn formats_parse_and_print() {
    assert_eq!(
        ExportFormat::parse_list("v9, IPFIX,v5").unwrap(),
        vec![ExportFormat::V9, ExportFormat::Ipfix, ExportFormat::V5]
    );
    assert!(matches!("v7".parse::<ExportFormat>(), Err(DatasetError::UnknownFormat { name }) if name == "v7"));
    assert_eq!(ExportFormat::Ipfix.to_string(), "ipfix");
}

#[test]
fn invalid_configs_are_rejected_with_the_field() {
    let field = |cfg: GenConfig| match Generator::new(cfg) {
        Err(DatasetError::InvalidConfig { field, .. }) => field,
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    assert_eq!(
        field(GenConfig {
            exporters: 0,
            ..small(1)
        }),
        "exporters"
    );
    assert_eq!(
        field(GenConfig {
            formats: vec![],
            ..small(1)
        }),
        "formats"
    );
    assert_eq!(
        field(GenConfig {
            v6_share: 1.5,
            ..small(1)
        }),
        "v6_share"
    );
    assert_eq!(
        field(GenConfig {
            span_ms: -1,
            ..small(1)
        }),
        "span_ms"
    );
    assert_eq!(
        field(GenConfig {
            exporter_base: Ipv4Addr::new(255, 255, 255, 254),
            ..small(1)
        }),
        "exporters"
    );
}

#[test]
fn exporters_get_formats_round_robin_and_consecutive_addresses() {
    let g = Generator::new(GenConfig {
        exporters: 5,
        ..small(1)
    })
    .unwrap();
    let formats: Vec<_> = g.exporters().iter().map(|e| e.format).collect();
    use ExportFormat::*;
    assert_eq!(formats, vec![V9, Ipfix, V5, V9, Ipfix]);
    assert_eq!(g.exporters()[4].addr, Ipv4Addr::new(127, 0, 1, 5));
    assert_eq!(g.exporters()[4].observation_domain, 5);
}

#[test]
fn exporter_index_inverts_the_address_and_flows_stop_at_the_total() {
    let mut g = Generator::new(small(500)).unwrap();
    let mut n = 0;
    while let Some((i, rec)) = g.next_flow() {
        assert_eq!(g.exporter_index(&rec), Some(i));
        n += 1;
    }
    assert_eq!(n, 500);
    assert_eq!(g.produced(), 500);
    let stranger = FlowRecord {
        exporter: from_v4_u32(0x7f00_0001),
        ..Default::default()
    };
    assert_eq!(g.exporter_index(&stranger), None);
}

#[test]
fn times_spread_over_the_span_and_follow_the_clock() {
    let cfg = GenConfig {
        start_ms: 1_000_000,
        span_ms: 10_000,
        ..small(1_000)
    };
    let flows: Vec<FlowRecord> = Generator::new(cfg).unwrap().collect();
    assert_eq!(flows[0].flow_end, Some(1_000_000));
    assert_eq!(flows[999].flow_end, Some(1_000_000 + 10_000 * 999 / 1_000));
    for f in &flows {
        let end = f.flow_end.unwrap();
        assert!(end >= f.flow_start && end - f.flow_start <= MAX_DURATION_MS);
    }
    let mut g = Generator::new(small(0)).unwrap();
    g.set_clock(42_000_000);
    let (_, f) = g.next_flow().unwrap();
    assert_eq!(f.flow_end, Some(42_000_000));
}

#[test]
fn fill_writes_a_prefix_at_the_end() {
    let mut g = Generator::new(small(10)).unwrap();
    let mut buf = [FlowRecord::default(); 8];
    assert_eq!(g.fill(&mut buf), 8);
    assert_eq!(g.fill(&mut buf), 2);
    assert_eq!(g.fill(&mut buf), 0);
}
