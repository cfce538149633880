//! The generator is deterministic and has the advertised shape.

use std::collections::{HashMap, HashSet};

use engine::FlowRecord;
use engine::addr::is_v4;
use flowfold_datasets::generator::{ExportFormat, GenConfig, Generator};

fn flows(cfg: GenConfig) -> Vec<(usize, FlowRecord)> {
    let mut g = Generator::new(cfg).expect("valid config");
    std::iter::from_fn(|| g.next_flow()).collect()
}

fn cfg(seed: u64, flows: u64) -> GenConfig {
    GenConfig {
        seed,
        flows,
        exporters: 6,
        ..GenConfig::default()
    }
}

#[test]
fn same_seed_gives_identical_records_and_another_seed_does_not() {
    let a = flows(cfg(7, 20_000));
    let b = flows(cfg(7, 20_000));
    assert_eq!(a.len(), 20_000);
    assert!(a == b, "same seed, same flows");
    let c = flows(cfg(8, 20_000));
    let same = a.iter().zip(&c).filter(|(x, y)| x == y).count();
    assert!(same < 100, "{same} identical flows across seeds");
}

#[test]
fn distribution_has_the_advertised_shape() {
    let all = flows(cfg(1, 200_000));
    let n = all.len() as f64;
    let share = |pred: &dyn Fn(&FlowRecord) -> bool| all.iter().filter(|(_, f)| pred(f)).count() as f64 / n;

    let v6 = share(&|f| !is_v4(&f.src_addr.unwrap()));
    assert!((0.08..=0.12).contains(&v6), "v6 share {v6}");
    let tcp = share(&|f| f.protocol == Some(6));
    let udp = share(&|f| f.protocol == Some(17));
    let icmp = share(&|f| matches!(f.protocol, Some(1 | 58)));
    assert!((tcp - 0.75).abs() < 0.02, "tcp {tcp}");
    assert!((udp - 0.22).abs() < 0.02, "udp {udp}");
    assert!((icmp - 0.03).abs() < 0.01, "icmp {icmp}");

    let mut dst_ports: HashMap<u16, u64> = HashMap::new();
    for (_, f) in &all {
        *dst_ports.entry(f.dst_port.unwrap()).or_default() += 1;
    }
    let top = dst_ports.iter().max_by_key(|(_, c)| **c).map(|(p, _)| *p);
    assert_eq!(top, Some(443));

    // ICMP: source port 0, type/code in the destination port.
    for (_, f) in all.iter().filter(|(_, f)| f.protocol == Some(1)) {
        assert_eq!(f.src_port, Some(0));
        assert!(matches!(f.dst_port.unwrap() >> 8, 0 | 3 | 8 | 11), "{:?}", f.dst_port);
    }

    // Hosts: a few thousand v4 addresses in a handful of /16s, skewed.
    let v4: Vec<[u8; 16]> = all
        .iter()
        .map(|(_, f)| f.src_addr.unwrap())
        .filter(|a| is_v4(a))
        .collect();
    let distinct: HashSet<_> = v4.iter().collect();
    let nets: HashSet<_> = v4.iter().map(|a| (a[12], a[13])).collect();
    assert!(
        (1_000..=5_000).contains(&distinct.len()),
        "{} v4 sources",
        distinct.len()
    );
    assert!(nets.len() <= 10, "{} /16s", nets.len());
    let mut per_host: HashMap<&[u8; 16], u64> = HashMap::new();
    for a in &v4 {
        *per_host.entry(a).or_default() += 1;
    }
    let busiest = per_host.values().max().copied().unwrap_or(0) as f64 / v4.len() as f64;
    assert!(busiest > 0.02, "busiest host share {busiest}");

    // Heavy tail: the largest flow is far above the median; bytes within 40..1500 per packet.
    let mut packets: Vec<u64> = all.iter().map(|(_, f)| f.packets.unwrap()).collect();
    packets.sort_unstable();
    assert!(
        packets[packets.len() - 1] > 100 * packets[packets.len() / 2],
        "max {} median {}",
        packets[packets.len() - 1],
        packets[packets.len() / 2]
    );
    for (_, f) in &all {
        let (p, b) = (f.packets.unwrap(), f.bytes.unwrap());
        assert!(b >= 40 * p && b <= 1500 * p);
        assert!(f.flow_end.unwrap() >= f.flow_start);
        assert!(f.src_as.is_some() && f.dst_mask.is_some() && f.next_hop.is_some());
    }
}

#[test]
fn v5_exporters_never_get_ipv6() {
    let g = Generator::new(cfg(3, 1)).unwrap();
    let v5: Vec<bool> = g.exporters().iter().map(|e| e.format == ExportFormat::V5).collect();
    assert!(v5.iter().any(|x| *x), "the default mix has v5 exporters");
    let all = flows(cfg(3, 100_000));
    let mut v6_elsewhere = 0;
    for (i, f) in &all {
        let v6 = !is_v4(&f.src_addr.unwrap()) || !is_v4(&f.dst_addr.unwrap()) || !is_v4(&f.next_hop.unwrap());
        if v5[*i] {
            assert!(!v6, "v6 flow on v5 exporter {i}");
        } else if v6 {
            v6_elsewhere += 1;
        }
    }
    assert!(
        v6_elsewhere > 5_000,
        "other exporters carry the v6 share: {v6_elsewhere}"
    );
}

#[test]
fn only_v5_exporters_means_no_ipv6_at_all() {
    let all = flows(GenConfig {
        formats: vec![ExportFormat::V5],
        ..cfg(4, 20_000)
    });
    assert!(all.iter().all(|(_, f)| is_v4(&f.src_addr.unwrap())));
}

#[test]
fn generates_more_than_two_million_flows_per_second() {
    // Only meaningful with optimisations; debug builds just check it runs.
    let mut g = Generator::new(cfg(5, 0)).unwrap();
    let mut buf = vec![FlowRecord::default(); 4096];
    let t = std::time::Instant::now();
    let mut n = 0u64;
    while n < 1_000_000 {
        n += g.fill(&mut buf) as u64;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("generator: {rate:.0} flows/s");
    if !cfg!(debug_assertions) {
        assert!(rate > 2_000_000.0, "{rate:.0} flows/s");
    }
}
